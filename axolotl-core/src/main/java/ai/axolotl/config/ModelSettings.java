package ai.axolotl.config;

import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;

import java.io.Serializable;
import java.util.Map;

/**
 * Which model to train and how to hold it.
 *
 * @param baseModel local Hugging Face model directory: config.json, plus safetensors weights unless
 *     {@code reinit_weights}, plus an optional tokenizer.json
 * @param reinitWeights initialise weights randomly (from {@code seed}) instead of loading them
 * @param tokenizerConfig path of a tokenizer.json (or its directory); null: base_model's if present, else the
 *     embedded byte tokenizer
 * @param gradientCheckpointing recompute each unit's activations in backward instead of keeping them
 * @param chunkedLoss compute the output projection and cross entropy in chunks of tokens, never holding the whole
 *     logits ({@code plugins: [...CutCrossEntropyPlugin]}, {@code cut_cross_entropy},
 *     {@code liger_fused_linear_cross_entropy})
 * @param specialTokens {@code special_tokens}: bos/eos/pad/unk overrides, each naming a token of the vocabulary
 * @param revision {@code revision_of_model}: the branch, tag or commit of a Hub {@code base_model} (null: main)
 * @param adapter which parameters train: a LoRA adapter, base parameters left trainable, or all
 */
public record ModelSettings(
        @NotBlank(message = "is required (a local Hugging Face model directory or a Hub id)") String baseModel,
        boolean reinitWeights,
        String tokenizerConfig,
        boolean gradientCheckpointing,
        boolean chunkedLoss,
        Map<String, String> specialTokens,
        String revision,
        @NotNull AdapterSettings adapter) implements Serializable {

    /** Copies the overrides. */
    public ModelSettings {
        specialTokens = specialTokens == null ? Map.of() : ChatDataset.ordered(specialTokens);
        adapter = adapter == null ? AdapterSettings.NONE : adapter;
    }

    /** Settings without special-token overrides. */
    public ModelSettings(String baseModel, boolean reinitWeights, String tokenizerConfig,
            boolean gradientCheckpointing, boolean chunkedLoss) {
        this(baseModel, reinitWeights, tokenizerConfig, gradientCheckpointing, chunkedLoss, Map.of(), null,
                AdapterSettings.NONE);
    }
}
