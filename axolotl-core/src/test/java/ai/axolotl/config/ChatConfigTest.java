package ai.axolotl.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The chat keys of Axolotl configs: bound with Axolotl's defaults, legacy keys folded, refusals named. */
class ChatConfigTest {
    static final String BASE = KeyClassificationTest.BASE.replace("""
            datasets:
              - path: data/train.jsonl
                type: completion
            """, "");

    static ConfigLoader.Loaded load(Path dir, String extra) throws Exception {
        return ConfigLoader.load(ConfigLoaderTest.write(dir, BASE + extra), Map.of());
    }

    @Test
    void aChatTemplateDatasetGetsAxolotlsDefaults(@TempDir Path dir) throws Exception {
        AxolotlConfig c = load(dir, "datasets:\n  - path: chat.jsonl\n    type: chat_template\n").config();
        ChatDataset chat = c.datasets().get(0).chat();
        assertThat(chat.fieldMessages()).isEqualTo("messages");
        assertThat(chat.messagePropertyMappings()).isEqualTo(Map.of("role", "role", "content", "content"));
        assertThat(chat.rolesToTrain()).containsExactly("assistant");
        assertThat(chat.trainOnEos()).isEqualTo("turn");
        assertThat(chat.trainOnEot()).isEqualTo("turn");
        assertThat(chat.chatTemplate()).isEqualTo("tokenizer_default");
        assertThat(chat.roles()).isEqualTo(ChatDataset.DEFAULT_ROLES);
        assertThat(c.datasets().get(0).split()).isEqualTo("train");
    }

    @Test
    void theSharegptMigrationFormAndTopLevelKeysBind(@TempDir Path dir) throws Exception {
        ConfigLoader.Loaded l = load(dir, """
                chat_template: qwen3
                eot_tokens: ["<|im_end|>"]
                chat_template_kwargs:
                  enable_thinking: false
                special_tokens:
                  pad_token: "<|endoftext|>"
                datasets:
                  - path: mlabonne/FineTome-100k
                    type: chat_template
                    split: train[:20%]
                    field_messages: conversations
                    message_field_role: from
                    message_field_content: value
                    train_on_eos: all
                    roles_to_train: [assistant, user]
                """);
        DatasetConfig d = l.config().datasets().get(0);
        assertThat(d.split()).isEqualTo("train[:20%]");
        assertThat(d.chat().messagePropertyMappings()).isEqualTo(Map.of("role", "from", "content", "value"));
        assertThat(d.chat().trainOnEot()).as("follows train_on_eos").isEqualTo("all");
        assertThat(d.chat().rolesToTrain()).containsExactly("assistant", "user");
        assertThat(l.warnings()).anyMatch(w -> w.contains("datasets[0].message_field_role is deprecated"));
        ChatSettings chat = l.config().data().chat();
        assertThat(chat.chatTemplate()).isEqualTo("qwen3");
        assertThat(chat.eotTokens()).containsExactly("<|im_end|>");
        assertThat(chat.chatTemplateKwargs()).containsEntry("enable_thinking", false);
        assertThat(l.config().model().specialTokens()).containsEntry("pad_token", "<|endoftext|>");
    }

    @Test
    void refusalsNameTheKey(@TempDir Path dir) throws Exception {
        List<ConfigError> errors = ConfigLoaderTest.errorsOf(dir, BASE + """
                chat_template: llama4
                special_tokens:
                  additional_special_tokens: ["<x>"]
                datasets:
                  - path: a.jsonl
                    type: sharegpt
                  - path: b.jsonl
                    type: chat_template
                    split: test
                    train_on_eos: sometimes
                    message_property_mappings: {role: from}
                    message_field_role: speaker
                  - path: c.jsonl
                    type: chat_template
                    chat_template: jinja
                """);
        assertThat(errors).extracting(ConfigError::key).contains("chat_template",
                "special_tokens.additional_special_tokens", "datasets[0].type", "datasets[1].split",
                "datasets[1].train_on_eos", "datasets[1].message_field_role", "datasets[2].chat_template");
        assertThat(errors).filteredOn(e -> e.key().equals("datasets[0].type")).singleElement()
                .satisfies(e -> assertThat(e.message()).isEqualTo("`type: sharegpt.*` is deprecated. Please use "
                        + "`type: chat_template` instead."));
        assertThat(errors).filteredOn(e -> e.key().equals("chat_template")).singleElement()
                .satisfies(e -> assertThat(e.message()).contains("'llama4' is not bundled"));
    }

    @Test
    void chatKeysPrintInOneOrderSoTheDatasetCacheKeyIsStableAcrossRuns() throws Exception {
        java.util.LinkedHashMap<String, String> ab = new java.util.LinkedHashMap<>();
        ab.put("role", "from");
        ab.put("content", "value");
        java.util.LinkedHashMap<String, String> ba = new java.util.LinkedHashMap<>();
        ba.put("content", "value");
        ba.put("role", "from");
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        ChatDataset one = new ChatDataset("m", ab, ChatDataset.DEFAULT_ROLES, List.of("assistant"), "turn", "turn",
                false, "system", "tools", "r", "r", false, "training", "train_detail", "tokenizer_default", null);
        ChatDataset two = new ChatDataset("m", ba, ChatDataset.DEFAULT_ROLES, List.of("assistant"), "turn", "turn",
                false, "system", "tools", "r", "r", false, "training", "train_detail", "tokenizer_default", null);
        assertThat(json.writeValueAsString(one)).isEqualTo(json.writeValueAsString(two));
        assertThat(json.writeValueAsString(ChatDataset.DEFAULT_ROLES))
                .isEqualTo("{\"assistant\":[\"gpt\",\"assistant\"],\"system\":[\"system\"],\"tool\":[\"tool\"],"
                        + "\"user\":[\"human\",\"user\"]}");
    }

    @Test
    void chatKeysOnAnotherTypeWarn(@TempDir Path dir) throws Exception {
        ConfigLoader.Loaded l = load(dir, "datasets:\n  - path: a.jsonl\n    type: completion\n"
                + "    field_messages: conversations\n");
        assertThat(l.warnings()).anyMatch(w -> w.contains("datasets[0].field_messages has no effect"));
    }
}
