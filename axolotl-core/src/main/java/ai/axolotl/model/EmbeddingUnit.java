package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.LinkedHashMap;
import java.util.Map;

/** Token embedding lookup: [B, T] ids to [B, T, hidden]. */
public final class EmbeddingUnit implements ModelUnit {
    /** HF name of the embedding matrix. */
    public static final String WEIGHT = "model.embed_tokens.weight";
    private final Map<String, Tensor> params = new LinkedHashMap<>();

    EmbeddingUnit(Tensor weight) {
        params.put(WEIGHT, weight);
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

    @Override
    public Tensor forward(Tensor ids, ForwardContext ctx) {
        Tensor w = params.get(WEIGHT);
        try (Tensor h = torch.embedding(w, ids)) {
            return h.to(ctx.computeType());
        }
    }
}
