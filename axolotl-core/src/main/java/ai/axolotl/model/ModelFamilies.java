package ai.axolotl.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The registry of model families, keyed by {@code model_type}. Architectures the decoder does not build (mixtures
 * of experts, attention softcapping, linear attention, ...) are refused by name with what is missing.
 */
public final class ModelFamilies {
    private static final List<ModelFamily> FAMILIES = List.of(
            new LlamaFamily(),
            new MistralFamily(),
            new Qwen2Family(),
            new Qwen3Family(),
            new Gemma3TextFamily(),
            new Gemma3Family());

    /** Architectures known and refused, with the feature that is missing. */
    private static final Map<String, String> REFUSED = new LinkedHashMap<>();

    static {
        REFUSED.put("mixtral", "mixture-of-experts layers (Mixtral)");
        REFUSED.put("qwen2_moe", "mixture-of-experts layers (Qwen2-MoE)");
        REFUSED.put("qwen3_moe", "mixture-of-experts layers (Qwen3-MoE)");
        REFUSED.put("qwen3_5", "Qwen3.5's hybrid linear attention");
        REFUSED.put("qwen3_next", "Qwen3-Next's hybrid linear attention and experts");
        REFUSED.put("llama4", "Llama 4's mixture of experts and chunked attention");
        REFUSED.put("llama4_text", "Llama 4's mixture of experts and chunked attention");
        REFUSED.put("gemma2", "Gemma 2's attention-logit softcapping (needs eager attention)");
        REFUSED.put("gemma", "Gemma 1 (not built; Gemma 3 text is)");
        REFUSED.put("gemma3n", "Gemma 3n's per-layer embeddings and AltUp");
        REFUSED.put("gpt_oss", "gpt-oss's mixture of experts and attention sinks");
        REFUSED.put("deepseek_v3", "DeepSeek-V3's multi-head latent attention and experts");
        REFUSED.put("phi3", "Phi-3's fused qkv and gate_up projections");
    }

    private ModelFamilies() {}

    /** Every built family, in registry order. */
    public static List<ModelFamily> all() {
        return FAMILIES;
    }

    /** The family of a {@code model_type}, if built. */
    public static Optional<ModelFamily> find(String modelType) {
        for (ModelFamily f : FAMILIES) {
            if (f.modelType().equals(modelType)) {
                return Optional.of(f);
            }
        }
        return Optional.empty();
    }

    /** The family of a {@code model_type}; an error naming the built ones otherwise. */
    public static ModelFamily forType(String modelType) {
        return find(modelType).orElseThrow(() -> new IllegalArgumentException("model_type '" + modelType
                + "' is not supported" + refusal(modelType) + "; built: " + modelTypes()));
    }

    /** The family whose architectures include {@code architecture} ({@code Qwen3ForCausalLM}), if built. */
    public static Optional<ModelFamily> forArchitecture(String architecture) {
        for (ModelFamily f : FAMILIES) {
            if (f.architectures().contains(architecture)) {
                return Optional.of(f);
            }
        }
        return Optional.empty();
    }

    /** Every architecture name a built family reads ({@code LlamaForCausalLM}, ...). */
    public static List<String> architectures() {
        List<String> out = new ArrayList<>();
        FAMILIES.forEach(f -> out.addAll(f.architectures()));
        return out;
    }

    /** Every decoder-layer class a built family declares ({@code LlamaDecoderLayer}, ...). */
    public static List<String> decoderLayerClasses() {
        return FAMILIES.stream().map(ModelFamily::decoderLayerClass).toList();
    }

    /** The built model types. */
    public static List<String> modelTypes() {
        return FAMILIES.stream().map(ModelFamily::modelType).toList();
    }

    /** " (missing: ...)" for an architecture known and refused, else "". */
    static String refusal(String modelType) {
        String why = REFUSED.get(modelType);
        return why == null ? "" : " (not built: " + why + ")";
    }
}
