package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** A projection over a full [out, in] weight, cast to the input's element type when they differ. */
public final class DenseProjection implements Projection {
    private final Tensor weight;

    /** @param weight the [out_features, in_features] parameter (not copied) */
    public DenseProjection(Tensor weight) {
        this.weight = weight;
    }

    @Override
    public Tensor apply(Tensor x) {
        if (Tensors.sameType(x.scalar_type(), weight.scalar_type())) {
            return torch.linear(x, weight);
        }
        try (Tensor w = weight.to(x.scalar_type())) {
            return torch.linear(x, w);
        }
    }
}
