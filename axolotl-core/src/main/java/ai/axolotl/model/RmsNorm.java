package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * RMSNorm as Hugging Face computes it, in either family style ({@link Deltas.NormStyle}): Llama normalises in
 * float32, casts back, then scales by the weight; Gemma scales by {@code 1 + w} in float32 and casts last.
 */
public final class RmsNorm {
    private RmsNorm() {}

    /**
     * Normalises the last dimension of {@code x}: Llama {@code w * (x_f * rsqrt(mean(x_f^2) + eps)).to(dtype)};
     * Gemma {@code ((x_f * rsqrt(mean(x_f^2) + eps)) * (1 + w_f)).to(dtype)}, with {@code x_f} the float32 (float64
     * for a float64 model) input.
     */
    public static Tensor apply(Tensor x, Tensor weight, double eps, Deltas.NormStyle style) {
        ScalarType in = x.scalar_type();
        ScalarType work = Tensors.sameType(in, ScalarType.Double) ? ScalarType.Double : ScalarType.Float;
        try (Tensor xf = x.to(work);
             Tensor sq = xf.pow(new Scalar(2.0));
             Tensor var = sq.mean(new long[] {-1}, true, new ScalarTypeOptional());
             Tensor varEps = var.add(new Scalar(eps));
             Tensor inv = torch.rsqrt(varEps);
             Tensor normed = xf.mul(inv)) {
            if (style == Deltas.NormStyle.GEMMA) {
                try (Tensor wf = weight.to(work);
                     Tensor onePlus = wf.add(new Scalar(1.0));
                     Tensor scaled = normed.mul(onePlus)) {
                    return scaled.to(in);
                }
            }
            try (Tensor back = normed.to(in);
                 Tensor w = weight.to(in)) {
                return w.mul(back);
            }
        }
    }
}
