package ai.axolotl.train;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/** Global L2 gradient-norm clipping through libtorch. */
public final class GradientClipping {
    private GradientClipping() {}

    /**
     * Scales the gradients of {@code params} so their global L2 norm is at most {@code maxNorm} (0: no clipping).
     *
     * @return the norm before clipping
     */
    public static double clip(TensorVector params, double maxNorm) {
        double max = maxNorm > 0 ? maxNorm : Double.POSITIVE_INFINITY;
        return torch.clip_grad_norm_(params, max, 2.0, false);
    }

    /**
     * Unscales and clips loss-scaled gradients ({@code gradScale} times the true ones) of {@code params}: the
     * global norm is measured on what the gradients hold, divided by {@code gradScale}, and the gradients are
     * multiplied once by {@link #unscaleCoefficient}. With a scale of 1 this is {@link #clip(TensorVector,
     * double)}. A non-finite norm leaves the gradients untouched.
     *
     * @return the norm of the true gradients before clipping (not finite on overflow)
     */
    public static double clip(TensorVector params, double maxNorm, double gradScale) {
        if (gradScale == 1.0) {
            return clip(params, maxNorm);
        }
        double norm = torch.clip_grad_norm_(params, Double.POSITIVE_INFINITY, 2.0, false) / gradScale;
        if (!Double.isFinite(norm)) {
            return norm;
        }
        double factor = unscaleCoefficient(norm, maxNorm, gradScale);
        for (long i = 0; i < params.size(); i++) {
            try (Tensor g = params.get(i).grad()) {
                if (g.defined()) {
                    g.mul_(Tensors.scalar(factor));
                }
            }
        }
        return norm;
    }

    /**
     * What loss-scaled gradients are multiplied by to become the true gradients clipped to {@code maxNorm}:
     * {@link #coefficient} of the true norm, divided by the scale.
     *
     * @param trueNorm the global norm of the unscaled gradients
     */
    public static double unscaleCoefficient(double trueNorm, double maxNorm, double gradScale) {
        return coefficient(trueNorm, maxNorm) / gradScale;
    }

    /**
     * The factor libtorch's {@code clip_grad_norm_} scales gradients by, for strategies that compute the global norm
     * themselves over partitions or slices: {@code maxNorm / (norm + 1e-6)} when that is below 1, else 1 (also
     * when {@code maxNorm} is 0: no clipping).
     */
    public static double coefficient(double norm, double maxNorm) {
        if (maxNorm <= 0) {
            return 1.0;
        }
        return Math.min(1.0, maxNorm / (norm + 1e-6));
    }
}
