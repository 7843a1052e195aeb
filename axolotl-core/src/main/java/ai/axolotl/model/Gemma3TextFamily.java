package ai.axolotl.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Gemma 3 text ({@code model_type: gemma3_text}, {@code Gemma3ForCausalLM}): (1 + w) RMSNorms computed in fp32,
 * the embedding scaled by {@code sqrt(hidden_size)} in the compute type, tanh-GeLU, four norms per layer, q/k
 * norms, attention scaled by {@code query_pre_attn_scalar^-1/2}, and sliding-window layers ({@code layer_types}, or
 * every layer but each {@code sliding_window_pattern}-th) with their own RoPE table
 * ({@code rope_local_base_freq}, unscaled) while {@code rope_scaling} applies to the global layers. Softcapping
 * is refused (not built).
 */
final class Gemma3TextFamily implements ModelFamily {
    private static final Deltas DELTAS = new Deltas(Deltas.NormStyle.GEMMA, true, true, true,
            Deltas.Activation.GELU_TANH);

    @Override
    public String modelType() {
        return "gemma3_text";
    }

    @Override
    public List<String> architectures() {
        return List.of("Gemma3ForCausalLM");
    }

    @Override
    public String decoderLayerClass() {
        return "Gemma3DecoderLayer";
    }

    @Override
    public Deltas deltas() {
        return DELTAS;
    }

    /** Gemma3TextConfig's defaults of the shape keys (a multimodal checkpoint's text_config often omits them). */
    private static final Map<String, Integer> SHAPES = Map.of("vocab_size", 262_208, "hidden_size", 2304,
            "intermediate_size", 9216, "num_hidden_layers", 26, "num_attention_heads", 8);

    @Override
    public ModelConfig read(ConfigJson j) {
        boolean kvGiven = j.value("num_key_value_heads") != null;
        DecoderKeys.Read r = DecoderKeys.read(j, this, new DecoderKeys.Defaults(256, true, 1e-6, 1_000_000, 131072,
                SHAPES));
        if (!kvGiven) {
            r.kvHeads = 4; // Gemma3TextConfig's default
        }
        DecoderKeys.activation(j, "hidden_activation", Deltas.Activation.GELU_TANH);
        if (j.has("hidden_act")) {
            DecoderKeys.activation(j, "hidden_act", Deltas.Activation.GELU_TANH);
        }
        boolean attentionBias = j.bool("attention_bias", false);
        r.qkvBias = attentionBias;
        r.oBias = attentionBias;
        r.queryPreAttnScalar = j.number("query_pre_attn_scalar", 256);
        j.requireValue("final_logit_softcapping", v -> false, "final_logit_softcapping");
        j.requireValue("attn_logit_softcapping", v -> false, "attn_logit_softcapping");
        j.requireValue("use_bidirectional_attention", Boolean.FALSE::equals, "use_bidirectional_attention");
        r.window = j.integer("sliding_window", 4096);
        List<Boolean> byPattern = new ArrayList<>();
        if (j.has("layer_types")) {
            j.noEffect("sliding_window_pattern");
        } else {
            int pattern = j.integer("sliding_window_pattern", 6);
            for (int i = 0; i < r.layers; i++) {
                byPattern.add((i + 1) % pattern != 0);
            }
        }
        r.sliding = DecoderKeys.layerTypes(j, r.layers, byPattern);
        double localTheta = j.number("rope_local_base_freq", 10000);
        r.localRope = Rope.plain(localTheta);
        @SuppressWarnings("unchecked")
        Map<String, Object> v5 = (Map<String, Object>) j.value("rope_parameters");
        if (v5 != null && DecoderKeys.perLayerType(v5) && v5.containsKey("sliding_attention")) {
            r.localRope = Rope.parse(j, "rope_parameters.sliding_attention", DecoderKeys.sub(j, v5,
                    "sliding_attention"), localTheta);
        }
        return r.build(j);
    }

    @Override
    public void writeKeys(ModelConfig c, Map<String, Object> out) {
        out.put("hidden_activation", c.deltas().activation().hfName());
        out.put("attention_bias", c.qkvBias());
        out.put("query_pre_attn_scalar", c.queryPreAttnScalar());
        out.put("sliding_window", c.slidingWindow());
        out.put("layer_types", c.slidingLayers().stream()
                .map(s -> s ? "sliding_attention" : "full_attention").toList());
        out.put("rope_local_base_freq", c.localRope() == null ? 10000.0 : c.localRope().theta());
        out.put("final_logit_softcapping", null);
        out.put("attn_logit_softcapping", null);
    }
}
