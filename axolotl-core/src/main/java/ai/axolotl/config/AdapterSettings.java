package ai.axolotl.config;

import java.io.Serializable;
import java.util.List;

/**
 * Which parts of the model train: a LoRA adapter over a frozen base ({@code adapter: lora}, PEFT's semantics),
 * and base parameters left trainable ({@code lora_modules_to_save}, {@code unfrozen_parameters}). With neither,
 * every parameter trains (a full fine-tune).
 *
 * @param adapter {@code lora}, {@code qlora} (LoRA over a base whose frozen projections are stored as NF4:
 *     {@code adapter: qlora} or {@code lora} with {@code load_in_4bit: true}), or null for none
 * @param r {@code lora_r}: the adapter's rank
 * @param alpha {@code lora_alpha}: the scale is alpha / r (alpha / sqrt(r) with rsLoRA)
 * @param dropout {@code lora_dropout}: dropout on the adapter's input (never on the base path)
 * @param targetModules {@code lora_target_modules} as a list: a module matches when its path equals an entry or
 *     ends with {@code "." + entry} (PEFT); with {@code lora_target_linear} every linear projection's leaf name is
 *     added
 * @param targetRegex {@code lora_target_modules} given as one string (and no {@code lora_target_linear}): a
 *     regular expression the whole module path must match (PEFT's {@code re.fullmatch}); null otherwise
 * @param excludeModules {@code lora_exclude_modules}: modules never adapted, by the same list rules
 * @param modulesToSave {@code lora_modules_to_save}: modules (e.g. {@code embed_tokens}, {@code lm_head}) trained
 *     in full beside the adapter and saved with it
 * @param useRslora {@code peft_use_rslora}: scale alpha / sqrt(r)
 * @param layersToTransform {@code peft_layers_to_transform}: only these decoder layers get adapters (null: all)
 * @param init {@code peft_init_lora_weights}: {@code true} (A kaiming-uniform, B zero), {@code gaussian} (A normal
 *     with std 1/r, B zero) or {@code false} (both kaiming-uniform: not an identity at step 0)
 * @param loraModelDir {@code lora_model_dir}: a PEFT adapter directory to continue from (its
 *     {@code adapter_config.json} governs rank, alpha and targets)
 * @param unfrozenParameters {@code unfrozen_parameters}: Axolotl's patterns (a dot is literal, matched at the start
 *     of the parameter name); the parameters they match train, all others are frozen
 */
public record AdapterSettings(
        String adapter,
        int r,
        double alpha,
        double dropout,
        List<String> targetModules,
        String targetRegex,
        List<String> excludeModules,
        List<String> modulesToSave,
        boolean useRslora,
        List<Integer> layersToTransform,
        String init,
        String loraModelDir,
        List<String> unfrozenParameters) implements Serializable {
    /** A full fine-tune: no adapter, nothing frozen. */
    public static final AdapterSettings NONE = new AdapterSettings(null, 0, 0, 0, List.of(), null, List.of(),
            List.of(), false, null, "true", null, List.of());

    /** Copies the lists. */
    public AdapterSettings {
        targetModules = targetModules == null ? List.of() : List.copyOf(targetModules);
        excludeModules = excludeModules == null ? List.of() : List.copyOf(excludeModules);
        modulesToSave = modulesToSave == null ? List.of() : List.copyOf(modulesToSave);
        layersToTransform = layersToTransform == null ? null : List.copyOf(layersToTransform);
        unfrozenParameters = unfrozenParameters == null ? List.of() : List.copyOf(unfrozenParameters);
    }

    /** The same settings continuing from the adapter in {@code dir} ({@code lora_model_dir}). */
    public AdapterSettings withLoraModelDir(String dir) {
        return new AdapterSettings(adapter, r, alpha, dropout, targetModules, targetRegex, excludeModules,
                modulesToSave, useRslora, layersToTransform, init, dir, unfrozenParameters);
    }

    /** True for a LoRA adapter, over a full-precision or a 4-bit base. */
    public boolean lora() {
        return "lora".equals(adapter) || "qlora".equals(adapter);
    }

    /** True when the frozen projections are stored as bitsandbytes NF4 (QLoRA). */
    public boolean quantizedBase() {
        return "qlora".equals(adapter);
    }

    /** True when some parameters are frozen: an adapter, or {@code unfrozen_parameters}. */
    public boolean freezesBase() {
        return lora() || !unfrozenParameters.isEmpty();
    }

    /** The adapter's output scale: alpha / r, or alpha / sqrt(r) with rsLoRA. */
    public double scaling() {
        return useRslora ? alpha / Math.sqrt(r) : alpha / r;
    }

    /** Axolotl's {@code LayerNamePattern} as a Java regex: every dot not followed by {@code +} is a literal dot. */
    public static String unfrozenRegex(String pattern) {
        return pattern.replaceAll("\\.(?!\\+)", "\\\\.");
    }
}
