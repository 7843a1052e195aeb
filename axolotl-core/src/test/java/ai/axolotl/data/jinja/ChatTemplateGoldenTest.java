package ai.axolotl.data.jinja;

import ai.axolotl.data.HfTokenizer;
import ai.axolotl.testing.SharedTokenizers;
import org.junit.jupiter.api.AfterAll;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The real Llama 3 Instruct, Qwen3 and Gemma3 templates rendered by {@link JinjaTemplate} against the reference
 * renders of Python Jinja2 set up as transformers sets it up ({@code ../shared/tokenizers/golden/chat-dev.jsonl},
 * cross-checked with {@code @huggingface/jinja}): text byte for byte, ids after tokenizing without special
 * tokens, and the same errors where the template raises.
 */
class ChatTemplateGoldenTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path dir;

    private static SharedTokenizers shared;

    @BeforeAll
    static void shared() {
        shared = SharedTokenizers.openOrSkip();
        dir = shared.dir();
    }

    @AfterAll
    static void close() {
        if (shared != null) {
            shared.close();
        }
    }

    @Test
    void everyReferenceRenderIsReproducedByteForByte() throws IOException {
        Map<String, JinjaTemplate> templates = new HashMap<>();
        List<String> failures = new ArrayList<>();
        int rendered = 0;
        int raised = 0;
        for (String line : Files.readAllLines(dir.resolve("golden/chat-dev.jsonl"))) {
            JsonNode g = JSON.readTree(line);
            String tok = g.get("tokenizer").asText();
            JsonNode cfg = JSON.readTree(dir.resolve(tok).resolve("tokenizer_config.json").toFile());
            JinjaTemplate t = templates.computeIfAbsent(tok,
                    k -> JinjaTemplate.compile(k, cfg.get("chat_template").asText()));
            Map<String, Object> vars = new LinkedHashMap<>();
            vars.put("messages", g.get("messages"));
            vars.put("tools", g.get("tools"));
            vars.put("documents", null);
            vars.put("add_generation_prompt", g.get("add_generation_prompt").asBoolean());
            for (String s : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
                JsonNode v = cfg.get(s);
                if (v != null && v.isTextual()) {
                    vars.put(s, v.asText());
                }
            }
            if (g.has("kwargs")) {
                Iterator<Map.Entry<String, JsonNode>> it = g.get("kwargs").fields();
                it.forEachRemaining(e -> vars.put(e.getKey(), e.getValue()));
            }
            String what = tok + "/" + g.get("case").asText() + " agp=" + g.get("add_generation_prompt");
            if (g.has("error")) {
                try {
                    String text = t.render(vars);
                    failures.add(what + ": expected an error (" + g.get("error").asText() + "), rendered "
                            + text.length() + " chars");
                } catch (TemplateException e) {
                    raised++;
                    String expected = g.get("error").asText();
                    if (expected.startsWith("TemplateError: ") && !expected.endsWith(e.getMessage())) {
                        failures.add(what + ": raised '" + e.getMessage() + "', expected '" + expected + "'");
                    }
                }
                continue;
            }
            String text;
            try {
                text = t.render(vars);
            } catch (TemplateException e) {
                failures.add(what + ": " + e.getMessage());
                continue;
            }
            rendered++;
            if (!text.equals(g.get("text").asText())) {
                failures.add(what + ": render differs\n--- expected\n" + g.get("text").asText()
                        + "\n--- actual\n" + text);
                continue;
            }
            HfTokenizer hf = shared.get(tok);
            int[] ids = hf.encode(text, false);
            if (!java.util.Arrays.equals(ids, JSON.convertValue(g.get("ids"), int[].class))) {
                failures.add(what + ": ids differ");
            }
        }
        assertThat(failures).isEmpty();
        assertThat(rendered).isEqualTo(66);
        assertThat(raised).isEqualTo(6);
    }
}
