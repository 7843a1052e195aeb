package ai.axolotl.config;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * The keys of a {@code type: chat_template} dataset, with Axolotl's defaults applied.
 *
 * @param fieldMessages the row field holding the list of turns (or a JSON string of it)
 * @param messagePropertyMappings template key to dataset key of each turn (role and content at least); the
 *     legacy {@code message_field_role} / {@code message_field_content} are folded in
 * @param roles template role to the dataset roles that map to it
 * @param rolesToTrain template roles whose turns are trained
 * @param trainOnEos {@code turn}, {@code last}, {@code all} or {@code none}: which EOS tokens are trained
 * @param trainOnEot the same for the end-of-turn tokens ({@code eot_tokens}); defaults to {@code trainOnEos}
 * @param dropSystemMessage drop a first system turn
 * @param fieldSystem row field whose text becomes a system turn when the first turn is not one
 * @param fieldTools row field holding the tools (a list, or a JSON string)
 * @param fieldThinking turn field holding the reasoning
 * @param templateThinkingKey the template's name for the reasoning
 * @param splitThinking split an assistant's {@code <think>...</think>} out of the content into the reasoning
 * @param messageFieldTraining turn field that says whether the turn is trained
 * @param messageFieldTrainingDetail turn field with character spans to train (refused when rows carry it)
 * @param chatTemplate this dataset's template choice ({@code tokenizer_default}, a bundled name, {@code jinja}, or
 *     {@code tokenizer_default_fallback_<name>})
 * @param chatTemplateJinja the template text or a path to it, for {@code jinja}
 */
public record ChatDataset(
        String fieldMessages,
        Map<String, String> messagePropertyMappings,
        Map<String, List<String>> roles,
        List<String> rolesToTrain,
        String trainOnEos,
        String trainOnEot,
        boolean dropSystemMessage,
        String fieldSystem,
        String fieldTools,
        String fieldThinking,
        String templateThinkingKey,
        boolean splitThinking,
        String messageFieldTraining,
        String messageFieldTrainingDetail,
        String chatTemplate,
        String chatTemplateJinja) implements Serializable {

    /** Axolotl's default role map: human and user to user, gpt and assistant to assistant, system, tool. */
    public static final Map<String, List<String>> DEFAULT_ROLES = ordered(Map.of("user", List.of("human", "user"),
            "assistant", List.of("gpt", "assistant"), "system", List.of("system"), "tool", List.of("tool")));

    /** Copies the collections. */
    public ChatDataset {
        messagePropertyMappings = ordered(messagePropertyMappings);
        roles = ordered(roles);
        rolesToTrain = List.copyOf(rolesToTrain);
    }

    /** An unmodifiable copy iterating in key order, so the record prints (and keys caches) the same every run. */
    static <V> Map<String, V> ordered(Map<String, V> m) {
        return java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(m));
    }
}
