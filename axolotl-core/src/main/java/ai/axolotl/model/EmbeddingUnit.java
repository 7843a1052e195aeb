package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.LinkedHashMap;
import java.util.Map;

/** Token embedding lookup: [B, T] ids to [B, T, hidden] (times the family's embedding scale, if any). */
public final class EmbeddingUnit implements ModelUnit {
    /** HF name of the embedding matrix. */
    public static final String WEIGHT = ParameterLayout.EMBED;
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final ModelParallelism parallel;
    private final double scale;

    EmbeddingUnit(ModelConfig config, Tensor weight, ModelParallelism parallel) {
        params.put(WEIGHT, weight);
        this.parallel = parallel;
        this.scale = config.deltas().embeddingScale() ? Math.sqrt(config.hiddenSize()) : 1.0;
    }

    @Override
    public String name() {
        return "embed";
    }

    @Override
    public String moduleClass() {
        return "Embedding";
    }

    @Override
    public Map<String, Tensor> parameters() {
        return params;
    }

    /**
     * Under tensor parallelism the weight holds this rank's vocabulary rows: tokens outside them look up row 0 and
     * are zeroed, and {@link ModelParallelism#exitRegion} sums the ranks' partial embeddings (keeping this rank's
     * part of the sequence with sequence parallelism).
     */
    @Override
    public Tensor forward(Tensor ids, ForwardContext ctx) {
        Tensor w = params.get(WEIGHT);
        if (parallel.size() == 1) {
            try (Tensor h = torch.embedding(w, ids); Tensor c = h.to(ctx.computeType())) {
                return scaled(c, ctx);
            }
        }
        long rows = w.size(0);
        try (Tensor shifted = ids.sub(new Scalar(parallel.rank() * rows));
             Tensor below = shifted.lt(new Scalar(0));
             Tensor above = shifted.ge(new Scalar(rows));
             Tensor outside = below.logical_or(above);
             Tensor local = shifted.masked_fill(outside, new Scalar(0));
             Tensor looked = torch.embedding(w, local);
             Tensor inside = outside.logical_not();
             Tensor keep = inside.unsqueeze(-1);
             Tensor kept = looked.mul(keep);
             Tensor partial = kept.to(ctx.computeType());
             Tensor summed = parallel.exitRegion(partial, ctx)) {
            return scaled(summed, ctx);
        }
    }

    /**
     * Gemma's scale: {@code h * sqrt(hidden_size)} with the scale rounded to the compute type first, as
     * transformers rounds it to the weights' dtype (55.5 in bf16 for hidden 3072); a new handle on {@code h}
     * otherwise.
     */
    private Tensor scaled(Tensor h, ForwardContext ctx) {
        if (scale == 1.0) {
            return new Tensor(h);
        }
        try (Tensor s = Tensors.scalarLike(scale, h)) {
            return h.mul(s);
        }
    }
}
