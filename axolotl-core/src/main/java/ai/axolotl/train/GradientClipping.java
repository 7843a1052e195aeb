package ai.axolotl.train;

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
