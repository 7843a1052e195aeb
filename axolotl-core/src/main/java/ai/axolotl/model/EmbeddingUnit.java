package ai.axolotl.model;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.LinkedHashMap;
import java.util.Map;

/** Token embedding lookup: [B, T] ids to [B, T, hidden]. */
public final class EmbeddingUnit implements ModelUnit {
    /** HF name of the embedding matrix. */
    public static final String WEIGHT = "model.embed_tokens.weight";
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final ModelParallelism parallel;

    EmbeddingUnit(Tensor weight, ModelParallelism parallel) {
        params.put(WEIGHT, weight);
        this.parallel = parallel;
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
            try (Tensor h = torch.embedding(w, ids)) {
                return h.to(ctx.computeType());
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
             Tensor partial = kept.to(ctx.computeType())) {
            return parallel.exitRegion(partial, ctx);
        }
    }
}
