package ai.axolotl.data;

import ai.axolotl.testing.SharedTokenizers;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Token ids of the four real tokenizers in {@code ../shared/tokenizers} against the ids the official Hugging Face
 * binding produced ({@code golden/ids-dev.jsonl}, written by {@code make-ids.mjs} outside this code), with and
 * without special tokens, long texts included.
 */
class HfTokenizerGoldenTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static SharedTokenizers shared;
    private static Path dir;

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

    static HfTokenizer tokenizer(String name) {
        return shared.get(name);
    }

    @Test
    void idsEqualTheReferenceBindingForEveryTextOfAllFourTokenizers() throws IOException {
        List<String> mismatches = new ArrayList<>();
        int compared = 0;
        int longest = 0;
        for (String line : Files.readAllLines(dir.resolve("golden/ids-dev.jsonl"))) {
            JsonNode g = JSON.readTree(line);
            HfTokenizer tok = tokenizer(g.get("tokenizer").asText());
            boolean specials = g.get("add_special_tokens").asBoolean();
            int[] expected = JSON.convertValue(g.get("ids"), int[].class);
            int[] actual = tok.encode(g.get("text").asText(), specials);
            compared++;
            longest = Math.max(longest, expected.length);
            if (!java.util.Arrays.equals(expected, actual)) {
                mismatches.add(g.get("tokenizer").asText() + "/" + g.get("case").asText() + " specials=" + specials
                        + ": expected " + expected.length + " ids, got " + actual.length);
            }
        }
        assertThat(compared).isEqualTo(248);
        assertThat(longest).as("a text beyond DJL's default 512-token truncation is compared").isGreaterThan(3000);
        assertThat(mismatches).isEmpty();
    }

    @Test
    void specialTokensComeFromTheTokenizerConfig() {
        HfTokenizer llama = tokenizer("llama3-instruct");
        assertThat(llama.bosId()).isEqualTo(128000);
        assertThat(llama.eosId()).as("Instruct: eos_token <|eot_id|>").isEqualTo(128009);
        HfTokenizer qwen = tokenizer("qwen3");
        assertThat(qwen.bosId()).as("bos_token: null").isEqualTo(-1);
        assertThat(qwen.eosId()).isEqualTo(qwen.idOf("<|im_end|>"));
        assertThat(qwen.padId()).isEqualTo(qwen.idOf("<|endoftext|>"));
        assertThat(qwen.specialTokens()).containsEntry("eos_token", "<|im_end|>").doesNotContainKey("bos_token");
        assertThat(qwen.chatTemplate()).get().asString().contains("<think>");
        assertThat(tokenizer("mistral-7b-v0.1").chatTemplate()).isEmpty();
        assertThat(tokenizer("gemma3").specialTokens()).containsEntry("bos_token", "<bos>");
    }

    @Test
    void theTokenizerFollowsAddBosTokenForLlamaClassTokenizers(@TempDir Path tmp) throws IOException {
        Path copy = tmp.resolve("mistral");
        Files.createDirectories(copy);
        Files.copy(dir.resolve("mistral-7b-v0.1/tokenizer.json"), copy.resolve("tokenizer.json"));
        var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(
                dir.resolve("mistral-7b-v0.1/tokenizer_config.json").toFile());
        cfg.put("add_bos_token", false).put("add_eos_token", true);
        Files.writeString(copy.resolve("tokenizer_config.json"), JSON.writeValueAsString(cfg));
        try (HfTokenizer t = HfTokenizer.load(copy)) {
            assertThat(t.encode("Hello", true)).containsExactly(22557, 2);
        }
        assertThat(tokenizer("mistral-7b-v0.1").encode("Hello", true)).containsExactly(1, 22557);
    }

    @Test
    void specialTokenOverridesNameExistingTokensOrAreRefused() throws IOException {
        try (HfTokenizer t = HfTokenizer.load(dir.resolve("llama3-instruct"),
                Map.of("pad_token", "<|reserved_special_token_0|>"))) {
            assertThat(t.padId()).isEqualTo(128002);
        }
        assertThatThrownBy(() -> HfTokenizer.load(dir.resolve("llama3-instruct"), Map.of("pad_token", "<PAD>")))
                .hasMessageContaining("special_tokens.pad_token '<PAD>' is not a token");
    }

    @Test
    void theCacheIdentityCoversTheTemplateAndConfig(@TempDir Path tmp) throws IOException {
        Path copy = tmp.resolve("qwen");
        Files.createDirectories(copy);
        Files.copy(dir.resolve("qwen3/tokenizer.json"), copy.resolve("tokenizer.json"));
        Files.copy(dir.resolve("qwen3/tokenizer_config.json"), copy.resolve("tokenizer_config.json"));
        String before;
        try (HfTokenizer t = HfTokenizer.load(copy)) {
            before = t.identity();
        }
        Files.writeString(copy.resolve("chat_template.jinja"), "{{ messages[0]['content'] }}");
        try (HfTokenizer t = HfTokenizer.load(copy)) {
            assertThat(t.chatTemplate()).contains("{{ messages[0]['content'] }}");
            assertThat(t.identity()).isNotEqualTo(before);
        }
    }

    @Test
    void djlIsPutInOfflineModeBeforeItsFirstLoadUnlessTheUserChose() {
        tokenizer("qwen3");
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv("RUST_FLAVOR") == null
                && System.getenv("DJL_OFFLINE") == null, "the environment chose DJL's flavour or offline mode");
        // offline, DJL uses the CPU library inside its jar and never downloads a CUDA build of it
        assertThat(System.getProperty("ai.djl.offline")).isEqualTo("true");
    }
}
