package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** RMSNorm as in Hugging Face Llama: normalised in float32, cast back, then scaled by the weight. */
public final class RmsNorm {
    private RmsNorm() {}

    /** {@code w * (x * rsqrt(mean(x^2, -1) + eps)).to(x.dtype)}. */
    public static Tensor apply(Tensor x, Tensor weight, double eps) {
        ScalarType in = x.scalar_type();
        ScalarType work = Tensors.sameType(in, ScalarType.Double) ? ScalarType.Double : ScalarType.Float;
        try (Tensor xf = x.to(work);
             Tensor sq = xf.pow(new Scalar(2.0));
             Tensor var = sq.mean(new long[] {-1}, true, new ScalarTypeOptional());
             Tensor varEps = var.add(new Scalar(eps));
             Tensor inv = torch.rsqrt(varEps);
             Tensor normed = xf.mul(inv);
             Tensor back = normed.to(in);
             Tensor w = weight.to(in)) {
            return w.mul(back);
        }
    }
}
