package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** Final RMSNorm and the output projection to vocabulary logits (float32). */
public final class HeadUnit implements ModelUnit {
    private final Tensor outputWeight;
    /** HF name of the final norm. */
    public static final String NORM = ParameterLayout.NORM;
    /** HF name of the output projection (absent when tied). */
    public static final String LM_HEAD = ParameterLayout.LM_HEAD;
    private final ModelConfig config;
    private final Map<String, Tensor> params;
    private final Projection lmHead;
    private final Map<String, Tensor> used;
    private final ModelParallelism parallel;

    HeadUnit(ModelConfig config, Map<String, Tensor> params, Tensor outputWeight, ModelParallelism parallel) {
        this.config = config;
        this.parallel = parallel;
        this.params = params;
        this.lmHead = new DenseProjection(outputWeight);
        this.outputWeight = outputWeight;
        Map<String, Tensor> u = new LinkedHashMap<>(params);
        if (config.tieWordEmbeddings()) {
            u.put(EmbeddingUnit.WEIGHT, outputWeight);
        }
        this.used = Collections.unmodifiableMap(u);
    }

    @Override
    public Map<String, Tensor> usedParameters() {
        return used;
    }

    @Override
    public String name() {
        return "head";
    }

    @Override
    public String moduleClass() {
        return "Head";
    }

    @Override
    public Map<String, Tensor> parameters() {
        return params;
    }

    /**
     * Float32 logits (float64 for a float64 model). Under tensor parallelism the output projection is column
     * parallel: the logits are this rank's vocabulary slice, for the whole sequence, and the loss is computed
     * from them without gathering ({@link ModelParallelism#lossSum}).
     */
    @Override
    public Tensor forward(Tensor h, ForwardContext ctx) {
        try (Tensor full = hidden(h, ctx);
             Tensor logits = lmHead.apply(full, ctx)) {
            ScalarType type = Tensors.sameType(logits.scalar_type(), ScalarType.Double)
                    ? ScalarType.Double : ScalarType.Float;
            return logits.to(type);
        }
    }

    /**
     * What the output projection reads: the final norm of {@code h}, in the full form a column-parallel layer
     * needs under tensor parallelism (the whole sequence), [B, T, hidden] in the compute type.
     */
    public Tensor hidden(Tensor h, ForwardContext ctx) {
        try (Tensor normed = RmsNorm.apply(h, params.get(NORM), config.rmsNormEps(), config.deltas().norm())) {
            return parallel.enterRegion(normed, ctx);
        }
    }

    /** The output projection's [vocab (or this rank's slice), hidden] weight: {@code lm_head}, or the embedding. */
    public Tensor outputWeight() {
        return outputWeight;
    }
}
