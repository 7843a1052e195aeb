package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * A projection over a full (or this rank's) [out, in] weight and an optional bias, both cast to the input's
 * element type when they differ.
 */
public final class DenseProjection implements Projection {
    private final Tensor weight;
    private final Tensor bias;
    private final double biasScale;

    /** @param weight the [out_features, in_features] parameter (not copied) */
    public DenseProjection(Tensor weight) {
        this(weight, null, 1.0);
    }

    /**
     * @param weight the [out_features, in_features] parameter (not copied)
     * @param bias the [out_features] bias, or null
     * @param biasScale what the bias is multiplied by: 1, or {@code 1/tp} for a row-parallel projection whose
     *                  partial outputs are summed over tp ranks (each adds its share, so the sum adds it once and
     *                  each rank's bias gradient is its share of the whole)
     */
    public DenseProjection(Tensor weight, Tensor bias, double biasScale) {
        this.weight = weight;
        this.bias = bias;
        this.biasScale = biasScale;
    }

    @Override
    public Tensor apply(Tensor x, ForwardContext ctx) {
        return apply(x);
    }

    /** The map without a context (a dense projection uses none). */
    public Tensor apply(Tensor x) {
        boolean same = Tensors.sameType(x.scalar_type(), weight.scalar_type());
        try (Tensor w = same ? new Tensor(weight) : weight.to(x.scalar_type());
             Tensor b = bias == null ? null : same ? new Tensor(bias) : bias.to(x.scalar_type());
             Tensor bs = b == null || biasScale == 1.0 ? null : b.mul(new Scalar(biasScale))) {
            return b == null ? torch.linear(x, w) : torch.linear(x, w, new TensorOptional(bs != null ? bs : b));
        }
    }
}
