package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/** Final RMSNorm and the output projection to vocabulary logits (float32). */
public final class HeadUnit implements ModelUnit {
    /** HF name of the final norm. */
    public static final String NORM = "model.norm.weight";
    /** HF name of the output projection (absent when tied). */
    public static final String LM_HEAD = "lm_head.weight";
    private final LlamaConfig config;
    private final Map<String, Tensor> params;
    private final Projection lmHead;
    private final Map<String, Tensor> used;

    HeadUnit(LlamaConfig config, Map<String, Tensor> params, Tensor outputWeight) {
        this.config = config;
        this.params = params;
        this.lmHead = new DenseProjection(outputWeight);
        Map<String, Tensor> u = new LinkedHashMap<>(params);
        if (config.tieWordEmbeddings()) {
            u.put(EmbeddingUnit.WEIGHT, outputWeight);
        }
        this.used = java.util.Collections.unmodifiableMap(u);
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
        return "LlamaHead";
    }

    @Override
    public Map<String, Tensor> parameters() {
        return params;
    }

    @Override
    public Tensor forward(Tensor h, ForwardContext ctx) {
        try (Tensor normed = RmsNorm.apply(h, params.get(NORM), config.rmsNormEps());
             Tensor logits = lmHead.apply(normed)) {
            var type = ai.axolotl.runtime.Tensors.sameType(logits.scalar_type(), org.bytedeco.pytorch.global.torch.ScalarType.Double)
                    ? org.bytedeco.pytorch.global.torch.ScalarType.Double
                    : org.bytedeco.pytorch.global.torch.ScalarType.Float;
            return logits.to(type);
        }
    }
}
