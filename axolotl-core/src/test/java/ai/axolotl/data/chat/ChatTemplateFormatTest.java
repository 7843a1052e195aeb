package ai.axolotl.data.chat;

import ai.axolotl.config.ChatDataset;
import ai.axolotl.config.ChatSettings;
import ai.axolotl.data.DataException;
import ai.axolotl.data.Example;
import ai.axolotl.data.HfTokenizer;
import ai.axolotl.testing.SharedTokenizers;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Label masks of {@code type: chat_template} on the real tokenizers and their own templates. The expected trained
 * positions are written here, read off the reference token ids of {@code golden/chat-dev.jsonl} by hand (which
 * token is content, which is a role header, where EOS sits); they are not computed by the code under test.
 */
class ChatTemplateFormatTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static SharedTokenizers shared;
    private static Path dir;

    static final String COLOURS = "[{\"role\":\"user\",\"content\":\"Name a colour.\"},{\"role\":\"assistant\","
            + "\"content\":\"Blue.\"},{\"role\":\"user\",\"content\":\"Another one?\"},{\"role\":\"assistant\","
            + "\"content\":\"Green.\"},{\"role\":\"user\",\"content\":\"And a third?\"},{\"role\":\"assistant\","
            + "\"content\":\"Red.\"}]";

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

    static HfTokenizer tok(String name) {
        return shared.get(name);
    }

    static ChatDataset options(UnaryOperator<Map<String, Object>> edit) {
        Map<String, Object> o = new HashMap<>();
        o.put("trainOnEos", "turn");
        o.put("rolesToTrain", List.of("assistant"));
        o.put("mappings", Map.of("role", "role", "content", "content"));
        o.put("dropSystem", false);
        o.put("splitThinking", false);
        edit.apply(o);
        @SuppressWarnings("unchecked")
        Map<String, String> mappings = (Map<String, String>) o.get("mappings");
        @SuppressWarnings("unchecked")
        List<String> roles = (List<String>) o.get("rolesToTrain");
        String eos = (String) o.get("trainOnEos");
        return new ChatDataset("messages", mappings, ChatDataset.DEFAULT_ROLES, roles, eos,
                (String) o.getOrDefault("trainOnEot", eos), (Boolean) o.get("dropSystem"), "system", "tools",
                "reasoning_content", "reasoning_content", (Boolean) o.get("splitThinking"), "training",
                "train_detail", "tokenizer_default", null);
    }

    static Example one(String tokenizer, ChatDataset options, boolean trainOnInputs, String row) throws IOException {
        HfTokenizer t = tok(tokenizer);
        ChatTemplateFormat f = new ChatTemplateFormat(options,
                new ChatTemplates.Named(tokenizer, t.chatTemplate().orElseThrow()), ChatSettings.NONE, trainOnInputs, t);
        List<Example> out = f.tokenize(JSON.readTree(row), "data.jsonl:1", t, 4096);
        return out.isEmpty() ? null : out.get(0);
    }

    static List<Integer> trained(Example e) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < e.length(); i++) {
            if (e.labels()[i] != -100) {
                assertThat(e.labels()[i]).isEqualTo(e.inputIds()[i]);
                out.add(i);
            }
        }
        return out;
    }

    static int[] golden(String tokenizer, String caseName) throws IOException {
        for (String line : Files.readAllLines(dir.resolve("golden/chat-dev.jsonl"))) {
            JsonNode g = JSON.readTree(line);
            if (g.get("tokenizer").asText().equals(tokenizer) && g.get("case").asText().equals(caseName)
                    && !g.get("add_generation_prompt").asBoolean()) {
                return JSON.convertValue(g.get("ids"), int[].class);
            }
        }
        throw new IllegalStateException(caseName);
    }

    @Test
    void llama3TrainsAssistantContentAndEotNeverHeaders() throws IOException {
        Example e = one("llama3-instruct", options(o -> o), false, "{\"messages\":" + COLOURS + "}");
        assertThat(e.inputIds()).containsExactly(golden("llama3-instruct", "multi-turn"));
        // 13 / 28 / 44 are the "\n\n" the template writes after the assistant header; 16 / 31 / 47 <|eot_id|>
        assertThat(trained(e)).containsExactly(14, 15, 16, 29, 30, 31, 45, 46, 47);
    }

    @Test
    void gemma3TrainsModelTurnsAndEndOfTurn() throws IOException {
        Example e = one("gemma3", options(o -> o), false, "{\"messages\":" + COLOURS + "}");
        assertThat(e.inputIds()).containsExactly(golden("gemma3", "multi-turn"));
        assertThat(trained(e)).containsExactly(13, 14, 15, 28, 29, 30, 44, 45, 46);
    }

    @Test
    void qwen3LabelsTheFinalRenderWhereAxolotlsPrefixDiffIsShifted() throws IOException {
        String row = "{\"messages\":[{\"role\":\"user\",\"content\":\"What is 17 * 3?\"},{\"role\":\"assistant\","
                + "\"content\":\"<think>\\n17 * 3 = 51.\\n</think>\\n\\n17 * 3 = 51.\"},{\"role\":\"user\","
                + "\"content\":\"And 51 + 9?\"},{\"role\":\"assistant\",\"content\":\"<think>\\n51 + 9 = 60.\\n"
                + "</think>\\n\\nIt is 60.\"}]}";
        Example e = one("qwen3", options(o -> o), false, row);
        assertThat(e.inputIds()).containsExactly(golden("qwen3", "think-multi-turn"));
        List<Integer> expected = new ArrayList<>();
        // the first answer lost its reasoning in the final render: "17 * 3 = 51." at 17..26, <|im_end|> at 27
        for (int i = 17; i <= 27; i++) {
            expected.add(i);
        }
        // the last answer keeps its <think> block: from the newline after <think> (46; "\n\n" in the dummy render
        // merges into one token there) through "It is 60." (64) and <|im_end|> (65); the final "\n" (66) is not
        for (int i = 46; i <= 65; i++) {
            expected.add(i);
        }
        assertThat(trained(e)).containsExactlyElementsOf(expected);
    }

    @Test
    void axolotlsPrefixDiffMissesTheFirstAnswerOfTheSameQwen3Conversation() throws IOException {
        // Axolotl's find_turn: render turns[:i] + dummy and turns[:i+1], diff, and use the positions in the full
        // render. For the first answer the prefix render still shows its reasoning, so the positions are shifted.
        HfTokenizer t = tok("qwen3");
        ai.axolotl.data.jinja.JinjaTemplate tpl = ai.axolotl.data.jinja.JinjaTemplate.compile("qwen3",
                t.chatTemplate().orElseThrow());
        List<Object> turns = JSON.convertValue(JSON.readTree("[{\"role\":\"user\",\"content\":\"What is 17 * 3?\"},"
                + "{\"role\":\"assistant\",\"content\":\"<think>\\n17 * 3 = 51.\\n</think>\\n\\n17 * 3 = 51.\"}]"),
                List.class);
        List<Object> dummy = List.of(turns.get(0), Map.of("role", "assistant", "content", "[[dummy_message]]"));
        int[] real = t.encode(tpl.render(Map.of("messages", turns, "add_generation_prompt", false)), false);
        int[] fake = t.encode(tpl.render(Map.of("messages", dummy, "add_generation_prompt", false)), false);
        int start = 0;
        while (real[start] == fake[start]) {
            start++;
        }
        int a = real.length - 1;
        int b = fake.length - 1;
        while (real[a] == fake[b]) {
            a--;
            b--;
        }
        // in the full render the first answer is at 17..26; Axolotl's span starts inside the prefix render's
        // <think> block (18) and runs past 27, so applied to the full render it misses the answer's first token
        // and labels the <|im_end|>, newline and the next user turn's header instead
        assertThat(start).isEqualTo(18);
        assertThat(a + 1).isGreaterThan(30);
    }

    @Test
    void trainOnEosVariants() throws IOException {
        String row = "{\"messages\":" + COLOURS + "}";
        assertThat(trained(one("gemma3", options(o -> {
            o.put("trainOnEos", "none");
            return o;
        }), false, row))).containsExactly(13, 14, 28, 29, 44, 45);
        assertThat(trained(one("gemma3", options(o -> {
            o.put("trainOnEos", "last");
            return o;
        }), false, row))).containsExactly(13, 14, 28, 29, 44, 45, 46);
        assertThat(trained(one("gemma3", options(o -> {
            o.put("trainOnEos", "all");
            return o;
        }), false, row))).as("user turns' <end_of_turn> too, never their content")
                .containsExactly(8, 13, 14, 15, 23, 28, 29, 30, 39, 44, 45, 46);
    }

    @Test
    void trainOnInputsTrainsEveryTurnsContentButNoHeader() throws IOException {
        assertThat(trained(one("gemma3", options(o -> o), true, "{\"messages\":" + COLOURS + "}")))
                .containsExactly(4, 5, 6, 7, 8, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 35, 36, 37, 38, 39, 44, 45, 46);
    }

    @Test
    void aTurnsTrainingFieldOverridesItsRoleAndNoTrainedTokenDropsTheRow() throws IOException {
        String row = "{\"messages\":[{\"role\":\"user\",\"content\":\"Name a colour.\"},{\"role\":\"assistant\","
                + "\"content\":\"Blue.\",\"training\":false},{\"role\":\"user\",\"content\":\"Another one?\"},"
                + "{\"role\":\"assistant\",\"content\":\"Green.\"},{\"role\":\"user\",\"content\":\"And a third?\","
                + "\"training\":true},{\"role\":\"assistant\",\"content\":\"Red.\"}]}";
        assertThat(trained(one("gemma3", options(o -> o), false, row)))
                .containsExactly(28, 29, 30, 35, 36, 37, 38, 39, 44, 45, 46);
        assertThat(one("gemma3", options(o -> {
            o.put("rolesToTrain", List.of());
            return o;
        }), false, "{\"messages\":" + COLOURS + "}")).as("nothing trained: dropped").isNull();
    }

    @Test
    void anEmptyAssistantTurnTrainsOnlyItsEndToken() throws IOException {
        Example e = one("llama3-instruct", options(o -> o), false, "{\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Name a colour.\"},{\"role\":\"assistant\",\"content\":\"\"}]}");
        // <bos> header(3) \n\n Name a colour . <eot> | header(3) \n\n <eot>: the last <eot> sits at 14
        assertThat(trained(e)).containsExactly(14);
        assertThat(e.inputIds()[14]).isEqualTo(128009);
    }

    @Test
    void sharegptRowsThroughPropertyMappingsAndDefaultRoles() throws IOException {
        String row = "{\"conversations\":[{\"from\":\"human\",\"value\":\"Name a colour.\"},{\"from\":\"gpt\","
                + "\"value\":\"Blue.\"}]}";
        ChatDataset base = options(o -> {
            o.put("mappings", Map.of("role", "from", "content", "value"));
            return o;
        });
        ChatDataset sharegpt = new ChatDataset("conversations", base.messagePropertyMappings(), base.roles(),
                base.rolesToTrain(), "turn", "turn", false, "system", "tools", "reasoning_content",
                "reasoning_content", false, "training", "train_detail", "tokenizer_default", null);
        Example e = one("gemma3", sharegpt, false, row);
        int[] colours = golden("gemma3", "multi-turn");
        assertThat(e.inputIds()).containsExactly(java.util.Arrays.copyOf(colours, 17));
        assertThat(trained(e)).containsExactly(13, 14, 15);
    }

    @Test
    void systemFieldDropSystemAndSplitThinking() throws IOException {
        String sys = "{\"system\":\"You are a helpful assistant.\",\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"What is 2+2?\"},{\"role\":\"assistant\",\"content\":\"2 + 2 = 4.\"}]}";
        Example e = one("llama3-instruct", options(o -> o), false, sys);
        assertThat(e.inputIds()).as("field_system becomes the first turn")
                .containsExactly(golden("llama3-instruct", "system-user-assistant"));
        assertThat(trained(e)).containsExactly(28, 29, 30, 31, 32, 33, 34, 35, 36);
        Example dropped = one("llama3-instruct", options(o -> {
            o.put("dropSystem", true);
            return o;
        }), false, "{\"messages\":[{\"role\":\"system\",\"content\":\"x\"},{\"role\":\"user\",\"content\":"
                + "\"What is 2+2?\"},{\"role\":\"assistant\",\"content\":\"2 + 2 = 4.\"}]}");
        assertThat(dropped.inputIds()[2]).as("user header first").isEqualTo(882);
        String think = "{\"messages\":[{\"role\":\"user\",\"content\":\"And 51 + 9?\"},{\"role\":\"assistant\","
                + "\"content\":\"<think>51 + 9 = 60.</think>It is 60.\"}]}";
        Example split = one("qwen3", options(o -> {
            o.put("splitThinking", true);
            return o;
        }), false, think);
        assertThat(tok("qwen3").decode(split.inputIds())).contains("<think>\n51 + 9 = 60.\n</think>\n\nIt is 60.");
    }

    @Test
    void aTemplateErrorNamesTheRow() {
        assertThatThrownBy(() -> one("gemma3", options(o -> o), false, "{\"messages\":[{\"role\":\"assistant\","
                + "\"content\":\"x\"}]}")).isInstanceOf(DataException.class)
                .hasMessage("data.jsonl:1: gemma3 raised: Conversation roles must alternate "
                        + "user/assistant/user/assistant/...");
        assertThatThrownBy(() -> one("gemma3", options(o -> o), false, "{\"msgs\":[]}"))
                .hasMessageContaining("data.jsonl:1: expected a list of turns in field 'messages'");
    }

    @Test
    void trainingDetailTrainsTheTokensInsideItsCharacterSpans() throws IOException {
        // reference tokens (official binding): 13 Blue 14 _and 15 _red 16 . 17 <end_of_turn>; character offsets of
        // the content "Blue and red.": Blue 0-4, _and 4-8, _red 8-12, . 12-13 (ends inclusive: 3, 7, 11, 12)
        String row = "{\"messages\":[{\"role\":\"user\",\"content\":\"Name a colour.\"},{\"role\":"
                + "\"assistant\",\"content\":\"Blue and red.\",\"train_detail\":%s}]}";
        assertThat(trained(one("gemma3", options(o -> o), false, String.format(row,
                "[{\"begin_offset\":0,\"end_offset\":3,\"train\":true}]")))).containsExactly(13, 17);
        assertThat(trained(one("gemma3", options(o -> o), false, String.format(row,
                "[{\"begin_offset\":4,\"end_offset\":12,\"train\":true}]")))).containsExactly(14, 15, 16, 17);
        assertThat(trained(one("gemma3", options(o -> o), false, String.format(row,
                "[{\"begin_offset\":2,\"end_offset\":5,\"train\":true}]"))))
                .as("a span inside tokens is widened to their boundaries, as Axolotl does").containsExactly(13, 14, 17);
        assertThat(trained(one("gemma3", options(o -> o), false, String.format(row,
                "[{\"begin_offset\":0,\"end_offset\":3,\"train\":false},{\"begin_offset\":4,\"end_offset\":7,"
                        + "\"train\":true}]")))).containsExactly(14, 17);
        assertThat(one("gemma3", options(o -> o), false, String.format(row, "[]")))
                .as("an empty detail trains nothing: the row has no trained token").isNull();
    }

    @Test
    void aTrainingDetailTheTemplateMovesIsRefusedNotMisplaced() {
        // Llama 3's template trims content: the spans of " Blue" would land one token off
        assertThatThrownBy(() -> one("llama3-instruct", options(o -> o), false, "{\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"  Blue\",\"train_detail\":"
                + "[{\"begin_offset\":0,\"end_offset\":5,\"train\":true}]}]}"))
                .isInstanceOf(DataException.class).hasMessageContaining("data.jsonl:1 turn 1: its training detail cannot "
                        + "be placed");
    }
}
