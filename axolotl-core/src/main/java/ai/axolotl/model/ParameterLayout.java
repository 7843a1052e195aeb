package ai.axolotl.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parameters of the one decoder for a config, in its fixed order, each with its declaration: names and shapes
 * from the config, tensor-parallel layouts as Megatron lays out a decoder (q/k/v/gate/up, their biases and the
 * head by output features; o/down by input features; the embedding by vocabulary rows; norms replicated), and
 * gradient placements from where each parameter is used (between regions, or inside one on this rank's heads).
 */
final class ParameterLayout {
    private ParameterLayout() {}

    /** Name of the embedding matrix. */
    static final String EMBED = "model.embed_tokens.weight";
    /** Name of the final norm. */
    static final String NORM = "model.norm.weight";
    /** Name of the output projection (absent when tied). */
    static final String LM_HEAD = "lm_head.weight";

    /** The last few configs' specs by name (strategies look specs up per parameter and step). */
    private static final Map<ModelConfig, Map<String, ParameterSpec>> CACHE = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<ModelConfig, Map<String, ParameterSpec>> eldest) {
            return size() > 16;
        }
    };

    /** The specs of {@code c} by name, in order. */
    static synchronized Map<String, ParameterSpec> byName(ModelConfig c) {
        return CACHE.computeIfAbsent(c, k -> {
            Map<String, ParameterSpec> m = new LinkedHashMap<>();
            for (ParameterSpec s : build(k)) {
                m.put(s.name(), s);
            }
            return Collections.unmodifiableMap(m);
        });
    }

    static List<ParameterSpec> specs(ModelConfig c) {
        return List.copyOf(byName(c).values());
    }

    private static List<ParameterSpec> build(ModelConfig c) {
        Deltas d = c.deltas();
        long h = c.hiddenSize();
        long q = c.queryWidth();
        long kv = c.keyValueWidth();
        long inter = c.intermediateSize();
        ParameterSpec.Init normInit = d.norm() == Deltas.NormStyle.GEMMA ? ParameterSpec.Init.ZEROS
                : ParameterSpec.Init.ONES;
        List<ParameterSpec> out = new ArrayList<>();
        out.add(matrix(EMBED, new long[] {c.vocabSize(), h}, TensorParallelStyle.VOCAB));
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            out.add(norm(p + "input_layernorm.weight", h, normInit, GradientPlacement.PARTIAL_UNDER_SEQUENCE_PARALLEL));
            projection(out, p + "self_attn.q_proj", q, h, TensorParallelStyle.COLUMN, c.qkvBias());
            projection(out, p + "self_attn.k_proj", kv, h, TensorParallelStyle.COLUMN, c.qkvBias());
            projection(out, p + "self_attn.v_proj", kv, h, TensorParallelStyle.COLUMN, c.qkvBias());
            projection(out, p + "self_attn.o_proj", h, q, TensorParallelStyle.ROW, c.oBias());
            if (d.qkNorm()) {
                out.add(norm(p + "self_attn.q_norm.weight", c.headDim(), normInit, GradientPlacement.PARTIAL));
                out.add(norm(p + "self_attn.k_norm.weight", c.headDim(), normInit, GradientPlacement.PARTIAL));
            }
            out.add(norm(p + "post_attention_layernorm.weight", h, normInit,
                    GradientPlacement.PARTIAL_UNDER_SEQUENCE_PARALLEL));
            if (d.sandwichNorms()) {
                out.add(norm(p + "pre_feedforward_layernorm.weight", h, normInit,
                        GradientPlacement.PARTIAL_UNDER_SEQUENCE_PARALLEL));
                out.add(norm(p + "post_feedforward_layernorm.weight", h, normInit,
                        GradientPlacement.PARTIAL_UNDER_SEQUENCE_PARALLEL));
            }
            projection(out, p + "mlp.gate_proj", inter, h, TensorParallelStyle.COLUMN, c.mlpBias());
            projection(out, p + "mlp.up_proj", inter, h, TensorParallelStyle.COLUMN, c.mlpBias());
            projection(out, p + "mlp.down_proj", h, inter, TensorParallelStyle.ROW, c.mlpBias());
        }
        out.add(norm(NORM, h, normInit, GradientPlacement.PARTIAL_UNDER_SEQUENCE_PARALLEL));
        if (!c.tieWordEmbeddings()) {
            out.add(matrix(LM_HEAD, new long[] {c.vocabSize(), h}, TensorParallelStyle.COLUMN));
        }
        return out;
    }

    /**
     * A linear layer's weight {@code [out, in]} and, with a bias, its bias {@code [out]}: a column-parallel bias
     * is split like its weight's rows; a row-parallel one is whole on every rank, each adding 1/tp of it to its
     * partial sum (its gradient a partial sum).
     */
    private static void projection(List<ParameterSpec> out, String prefix, long outFeatures, long inFeatures,
                                   TensorParallelStyle style, boolean bias) {
        out.add(matrix(prefix + ".weight", new long[] {outFeatures, inFeatures}, style));
        if (bias) {
            boolean column = style == TensorParallelStyle.COLUMN;
            out.add(new ParameterSpec(prefix + ".bias", new long[] {outFeatures},
                    column ? TensorParallelStyle.COLUMN : TensorParallelStyle.REPLICATED,
                    column ? GradientPlacement.SHARD : GradientPlacement.PARTIAL, true, false,
                    ParameterSpec.Init.ZEROS));
        }
    }

    private static ParameterSpec matrix(String name, long[] shape, TensorParallelStyle style) {
        return new ParameterSpec(name, shape, style, GradientPlacement.SHARD, true, true, ParameterSpec.Init.NORMAL);
    }

    private static ParameterSpec norm(String name, long size, ParameterSpec.Init init, GradientPlacement gradient) {
        return new ParameterSpec(name, new long[] {size}, TensorParallelStyle.REPLICATED, gradient, true, false,
                init);
    }
}
