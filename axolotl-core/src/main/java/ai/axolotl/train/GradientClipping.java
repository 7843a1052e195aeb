package ai.axolotl.train;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.function.DoubleConsumer;

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
     * Unscales and clips loss-scaled gradients ({@code gradScale} times the true ones) of {@code params}, with the
     * norm measured by libtorch ({@link #unscaleAndClip}). With a scale of 1 this is
     * {@link #clip(TensorVector, double)}.
     *
     * @return the norm of the true gradients before clipping (not finite on overflow)
     */
    public static double clip(TensorVector params, double maxNorm, double gradScale) {
        if (gradScale == 1.0) {
            return clip(params, maxNorm);
        }
        double held = torch.clip_grad_norm_(params, Double.POSITIVE_INFINITY, 2.0, false);
        return unscaleAndClip(held, maxNorm, gradScale, factor -> {
            for (long i = 0; i < params.size(); i++) {
                try (Tensor g = params.get(i).grad()) {
                    if (g.defined()) {
                        g.mul_(Tensors.scalar(factor));
                    }
                }
            }
        });
    }

    /**
     * Unscales and clips loss-scaled gradients in one multiplication, for every strategy: the true norm is
     * {@code heldNorm / gradScale}; when it is finite the gradients are multiplied once by {@link #coefficient} of
     * it divided by the scale (nothing when that is 1); a non-finite norm (overflow) leaves them untouched.
     *
     * @param heldNorm the global L2 norm of what the gradients hold (scaled by {@code gradScale})
     * @param multiplyGradients multiplies every gradient this rank holds by the factor given
     * @return the norm of the true gradients before clipping (not finite on overflow)
     */
    public static double unscaleAndClip(double heldNorm, double maxNorm, double gradScale,
                                        DoubleConsumer multiplyGradients) {
        double norm = heldNorm / gradScale;
        if (!Double.isFinite(norm)) {
            return norm;
        }
        double factor = coefficient(norm, maxNorm) / gradScale;
        if (factor != 1.0) {
            multiplyGradients.accept(factor);
        }
        return norm;
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
