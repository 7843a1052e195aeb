package ai.axolotl.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code config.json} keys every decoder family shares, read once with the family's defaults: shapes, norm
 * epsilon, RoPE in the v4 ({@code rope_theta} + {@code rope_scaling}) and transformers v5 ({@code rope_parameters})
 * layouts, tied embeddings, dtype ({@code torch_dtype} or v5's {@code dtype}), dropout (refused unless 0) and the
 * activation (refused unless the family's).
 */
final class DecoderKeys {
    private static final Set<String> DTYPES = Set.of("float32", "bfloat16", "float16");

    /**
     * Defaults a family gives for absent keys.
     *
     * @param shapes defaults of the shape keys ({@code vocab_size}, {@code hidden_size}, ...) where the family's
     *               config class has them (Gemma 3's nested {@code text_config} often omits them); absent: required
     */
    record Defaults(int headDim, boolean tie, double rmsNormEps, double ropeTheta, int maxPositions,
                    Map<String, Integer> shapes) {
        Defaults(int headDim, boolean tie, double rmsNormEps, double ropeTheta, int maxPositions) {
            this(headDim, tie, rmsNormEps, ropeTheta, maxPositions, Map.of());
        }
    }

    /** The common keys as read; a family completes them into a {@link ModelConfig}. */
    static final class Read {
        String modelType;
        int vocab;
        int hidden;
        int intermediate;
        int layers;
        int heads;
        int kvHeads;
        int headDim;
        int maxPositions;
        double eps;
        Rope rope;
        Rope localRope;
        boolean tie;
        String dtype;
        double initializerRange;
        boolean qkvBias;
        boolean oBias;
        boolean mlpBias;
        int window;
        List<Boolean> sliding;
        double queryPreAttnScalar;

        ModelConfig build(ConfigJson json) {
            Map<String, Object> carried = json.finish(modelType);
            try {
                return new ModelConfig(modelType, vocab, hidden, intermediate, layers, heads, kvHeads, headDim,
                        maxPositions, eps, rope, localRope, tie, dtype, qkvBias, oBias, mlpBias, window, sliding,
                        queryPreAttnScalar, initializerRange, carried, false);
            } catch (IllegalArgumentException e) {
                throw json.invalid(e.getMessage().replaceFirst("^config.json: ", ""));
            }
        }
    }

    private DecoderKeys() {}

    static Read read(ConfigJson j, ModelFamily family, Defaults d) {
        Read r = new Read();
        r.modelType = family.modelType();
        j.value("model_type");
        j.value("architectures");
        r.vocab = required(j, "vocab_size", d);
        r.hidden = required(j, "hidden_size", d);
        r.intermediate = required(j, "intermediate_size", d);
        r.layers = required(j, "num_hidden_layers", d);
        r.heads = required(j, "num_attention_heads", d);
        r.kvHeads = j.integer("num_key_value_heads", r.heads);
        r.headDim = j.integer("head_dim", d.headDim() > 0 ? d.headDim() : 0);
        r.maxPositions = j.integer("max_position_embeddings", d.maxPositions());
        r.eps = j.number("rms_norm_eps", d.rmsNormEps());
        double theta = j.number("rope_theta", d.ropeTheta());
        Map<String, Object> scaling = j.object("rope_scaling");
        Map<String, Object> v5 = j.object("rope_parameters");
        if (scaling != null && v5 != null) {
            throw j.error("rope_parameters", v5, "either rope_scaling (transformers v4) or rope_parameters (v5), "
                    + "not both");
        }
        r.rope = v5 != null && !perLayerType(v5) ? Rope.parse(j, "rope_parameters", v5, theta)
                : Rope.parse(j, "rope_scaling", scaling, theta);
        if (v5 != null && perLayerType(v5)) {
            r.rope = Rope.parse(j, "rope_parameters.full_attention", sub(j, v5, "full_attention"), theta);
        }
        r.tie = j.bool("tie_word_embeddings", d.tie());
        String torchDtype = j.string("torch_dtype", null);
        String dtype = j.string("dtype", null);
        r.dtype = torchDtype != null ? torchDtype : dtype != null ? dtype : "float32";
        if (!DTYPES.contains(r.dtype)) {
            throw j.error(torchDtype != null ? "torch_dtype" : "dtype", r.dtype, "one of " + DTYPES);
        }
        r.initializerRange = j.number("initializer_range", 0.02);
        j.requireValue("attention_dropout", v -> v instanceof Number n && n.doubleValue() == 0,
                "attention dropout");
        j.requireValue("pretraining_tp", v -> v instanceof Number n && n.intValue() == 1,
                "pretraining_tp other than 1 (transformers' sliced-matmul emulation)");
        r.sliding = Collections.nCopies(r.layers, false);
        return r;
    }

    /** The MLP activation key ({@code hidden_act}; Gemma also {@code hidden_activation}) must be the family's. */
    static void activation(ConfigJson j, String key, Deltas.Activation expected) {
        String act = j.string(key, expected.hfName());
        if (!act.equals(expected.hfName())) {
            throw new IllegalArgumentException(j.file() + ": " + key + " = '" + act + "' is not supported for "
                    + "this model type (built: " + expected.hfName() + ")");
        }
    }

    /** Whether a v5 {@code rope_parameters} object is keyed by layer type (Gemma3: full / sliding). */
    static boolean perLayerType(Map<String, Object> v5) {
        return v5.containsKey("full_attention") || v5.containsKey("sliding_attention");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> sub(ConfigJson j, Map<String, Object> v5, String key) {
        Object o = v5.get(key);
        if (!(o instanceof Map<?, ?>)) {
            throw j.error("rope_parameters." + key, o, "an object");
        }
        return (Map<String, Object>) o;
    }

    /**
     * Which layers use the sliding window: {@code layer_types} when given ({@code full_attention} /
     * {@code sliding_attention}, one per layer), else {@code fallback}.
     */
    static List<Boolean> layerTypes(ConfigJson j, int layers, List<Boolean> fallback) {
        List<String> types = j.strings("layer_types");
        if (types == null) {
            return fallback;
        }
        if (types.size() != layers) {
            throw j.error("layer_types", types, layers + " entries (num_hidden_layers)");
        }
        List<Boolean> out = new ArrayList<>();
        for (String t : types) {
            switch (t) {
                case "full_attention" -> out.add(false);
                case "sliding_attention" -> out.add(true);
                default -> throw j.error("layer_types", t, "full_attention or sliding_attention");
            }
        }
        return out;
    }

    private static int required(ConfigJson j, String key, Defaults d) {
        if (j.value(key) == null && d.shapes().containsKey(key)) {
            return d.shapes().get(key);
        }
        if (j.value(key) == null) {
            throw j.error(key, null, "a positive integer (required)");
        }
        return j.integer(key, 0);
    }

    /** The keys the Llama-like families write: activation, biases. */
    static void writeLlamaLike(ModelConfig c, Map<String, Object> out) {
        out.put("hidden_act", c.deltas().activation().hfName());
        out.put("attention_bias", c.qkvBias());
        out.put("mlp_bias", c.mlpBias());
    }
}
