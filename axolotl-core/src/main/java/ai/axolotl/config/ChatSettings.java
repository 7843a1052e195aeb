package ai.axolotl.config;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * The top-level chat keys.
 *
 * @param chatTemplate {@code chat_template}: replaces the tokenizer's template for the run and the export (null:
 *     the tokenizer's own)
 * @param chatTemplateJinja {@code chat_template_jinja}: the template text or a path, for {@code jinja}
 * @param eotTokens {@code eot_tokens}: end-of-turn tokens (null: the tokenizer's EOS)
 * @param chatTemplateKwargs {@code chat_template_kwargs}: extra template variables ({@code enable_thinking}, ...)
 */
public record ChatSettings(
        String chatTemplate,
        String chatTemplateJinja,
        List<String> eotTokens,
        Map<String, Object> chatTemplateKwargs) implements Serializable {
    /** The template names bundled with axolotl-java (Axolotl's names), usable in {@code chat_template}. */
    public static final List<String> BUNDLED = List.of("chatml", "llama3", "qwen_25", "qwen3", "gemma3", "mistral_v1",
            "mistral_v2v3", "mistral_v3_tekken", "mistral_v7_tekken", "phi_3");

    /** No top-level chat keys. */
    public static final ChatSettings NONE = new ChatSettings(null, null, null, Map.of());

    /** Copies the collections. */
    public ChatSettings {
        eotTokens = eotTokens == null ? null : List.copyOf(eotTokens);
        chatTemplateKwargs = chatTemplateKwargs == null ? Map.of() : ChatDataset.ordered(chatTemplateKwargs);
    }
}
