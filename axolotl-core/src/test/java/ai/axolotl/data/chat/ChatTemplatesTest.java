package ai.axolotl.data.chat;

import ai.axolotl.config.ChatSettings;
import ai.axolotl.data.ByteTokenizer;
import ai.axolotl.data.DataException;
import ai.axolotl.data.jinja.JinjaTemplate;
import ai.axolotl.data.jinja.TemplateException;
import ai.axolotl.testing.SharedFiles;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Template choice with Axolotl's precedence, and the bundled templates against reference renders. */
class ChatTemplatesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void bundledLlama3Qwen3Gemma3RenderEveryReferenceConversationAsTheModelsOwnTemplates() throws IOException {
        Path shared = SharedFiles.root();
        Assumptions.assumeTrue(shared != null && Files.isDirectory(shared.resolve("tokenizers")),
                "shared/tokenizers is not beside this checkout");
        Map<String, String> bundledFor = Map.of("llama3-instruct", "llama3", "qwen3", "qwen3", "gemma3", "gemma3");
        List<String> failures = new ArrayList<>();
        int compared = 0;
        for (String line : Files.readAllLines(shared.resolve("tokenizers/golden/chat-dev.jsonl"))) {
            JsonNode g = JSON.readTree(line);
            String tok = g.get("tokenizer").asText();
            JsonNode cfg = JSON.readTree(shared.resolve("tokenizers").resolve(tok).resolve("tokenizer_config.json")
                    .toFile());
            JinjaTemplate t = JinjaTemplate.compile(bundledFor.get(tok),
                    ChatTemplates.bundled(bundledFor.get(tok)).source());
            Map<String, Object> vars = new LinkedHashMap<>();
            vars.put("messages", g.get("messages"));
            vars.put("tools", g.get("tools"));
            vars.put("add_generation_prompt", g.get("add_generation_prompt").asBoolean());
            vars.put("bos_token", cfg.path("bos_token").asText(""));
            if (g.has("kwargs")) {
                g.get("kwargs").fields().forEachRemaining(e -> vars.put(e.getKey(), e.getValue()));
            }
            String what = tok + "/" + g.get("case").asText();
            try {
                String text = t.render(vars);
                if (g.has("error")) {
                    failures.add(what + ": expected an error");
                } else if (!text.equals(g.get("text").asText())) {
                    failures.add(what + ": differs\n" + g.get("text").asText() + "\n---\n" + text);
                }
            } catch (TemplateException e) {
                if (!g.has("error")) {
                    failures.add(what + ": " + e.getMessage());
                }
            }
            compared++;
        }
        assertThat(compared).isEqualTo(72);
        assertThat(failures).isEmpty();
    }

    @Test
    void bundledMistralAndPhi3RenderAsAxolotlsTemplates() throws IOException {
        // bundled-goldens.jsonl: Axolotl's own templates rendered by Python Jinja2 (make_bundled_goldens.py)
        List<String> failures = new ArrayList<>();
        int rendered = 0;
        int raised = 0;
        try (var in = getClass().getResourceAsStream("/chat-templates/bundled-goldens.jsonl")) {
            for (String line : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
                JsonNode g = JSON.readTree(line);
                String name = g.get("template").asText();
                JinjaTemplate t = JinjaTemplate.compile(name, ChatTemplates.bundled(name).source())
                        .withClock(() -> java.time.LocalDateTime.of(2026, 1, 15, 9, 30));
                Map<String, Object> vars = new LinkedHashMap<>();
                vars.put("messages", g.get("messages"));
                vars.put("tools", g.get("tools"));
                vars.put("documents", null);
                vars.put("add_generation_prompt", g.get("add_generation_prompt").asBoolean());
                vars.put("bos_token", g.get("bos_token").asText());
                vars.put("eos_token", g.get("eos_token").asText());
                if (g.has("kwargs")) {
                    g.get("kwargs").fields().forEachRemaining(e -> vars.put(e.getKey(), e.getValue()));
                }
                String what = name + "/" + g.get("case").asText() + " agp=" + g.get("add_generation_prompt");
                try {
                    String text = t.render(vars);
                    if (g.has("error")) {
                        failures.add(what + ": expected " + g.get("error").asText());
                    } else if (!text.equals(g.get("text").asText())) {
                        failures.add(what + ": differs\n" + g.get("text").asText() + "\n---\n" + text);
                    } else {
                        rendered++;
                    }
                } catch (TemplateException e) {
                    String expected = g.has("error") ? g.get("error").asText() : null;
                    if (expected == null) {
                        failures.add(what + ": " + e.getMessage());
                    } else if (expected.startsWith("TemplateError: ") && !expected.equals("TemplateError: "
                            + e.getMessage())) {
                        failures.add(what + ": raised '" + e.getMessage() + "', expected '" + expected + "'");
                    } else {
                        raised++;
                    }
                }
            }
        }
        assertThat(failures).isEmpty();
        assertThat(rendered + raised).isEqualTo(130);
    }

    @Test
    void chatmlAndQwen25RenderTheirFormats() {
        List<Map<String, String>> messages = List.of(Map.of("role", "user", "content", "Hi"),
                Map.of("role", "assistant", "content", "Hello!"));
        Map<String, Object> vars = Map.of("messages", messages, "add_generation_prompt", true);
        assertThat(JinjaTemplate.compile("chatml", ChatTemplates.bundled("chatml").source()).render(vars))
                .isEqualTo("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                        + "<|im_start|>assistant\n");
        assertThat(JinjaTemplate.compile("qwen_25", ChatTemplates.bundled("qwen_25").source()).render(vars))
                .isEqualTo("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                        + "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!"
                        + "<|im_end|>\n<|im_start|>assistant\n");
        for (String name : ChatSettings.BUNDLED) {
            assertThat(ChatTemplates.bundled(name).source()).as(name).isNotBlank();
        }
    }

    @Test
    void precedenceTopLevelReplacesTheTokenizersAndADatasetChoiceWins(@TempDir Path tmp) throws IOException {
        Optional<ChatTemplates.Named> none = ChatTemplates.runTemplate(ChatSettings.NONE, new ByteTokenizer());
        assertThat(none).isEmpty();
        assertThatThrownBy(() -> ChatTemplates.datasetTemplate("datasets[0].chat_template", null, null, none))
                .isInstanceOf(DataException.class).hasMessageContaining("the tokenizer has no chat template");
        ChatSettings top = new ChatSettings("tokenizer_default_fallback_chatml", null, null, null);
        Optional<ChatTemplates.Named> run = ChatTemplates.runTemplate(top, new ByteTokenizer());
        assertThat(run.orElseThrow().source()).isEqualTo(ChatTemplates.bundled("chatml").source());
        assertThat(ChatTemplates.datasetTemplate("d", "tokenizer_default", null, run).source())
                .as("a dataset at tokenizer_default picks up the top-level replacement")
                .isEqualTo(ChatTemplates.bundled("chatml").source());
        assertThat(ChatTemplates.datasetTemplate("d", "gemma3", null, run).name()).isEqualTo("bundled gemma3");
        Path file = tmp.resolve("mine.jinja");
        Files.writeString(file, "{{ messages[0]['content'] }}");
        assertThat(ChatTemplates.datasetTemplate("d", "jinja", file.toString(), run).source())
                .isEqualTo("{{ messages[0]['content'] }}");
        assertThat(ChatTemplates.datasetTemplate("d", "jinja", "{{ 'inline' }}", run).source())
                .isEqualTo("{{ 'inline' }}");
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        Files.writeString(tmp.resolve("chat_template.jinja"), "old");
        ChatTemplates.saveInto(tmp, "new {{ x }}");
        assertThat(JSON.readTree(tmp.resolve("tokenizer_config.json").toFile()).get("chat_template").asText())
                .isEqualTo("new {{ x }}");
        assertThat(tmp.resolve("chat_template.jinja")).doesNotExist();
    }
}
