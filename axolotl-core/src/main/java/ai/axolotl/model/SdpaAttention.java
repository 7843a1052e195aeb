package ai.axolotl.model;

import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Masked scaled-dot-product attention through libtorch, with key/value heads repeated for grouped-query
 * attention (HF {@code repeat_kv}) and the mask of the {@link ForwardContext} (causal, within each sample).
 */
public final class SdpaAttention implements AttentionKernel {
    @Override
    public Tensor attend(Tensor q, Tensor k, Tensor v, ForwardContext ctx) {
        long rep = q.size(1) / k.size(1);
        double scale = 1.0 / Math.sqrt(q.size(-1));
        if (rep == 1) {
            return torch.scaled_dot_product_attention(q, k, v, new TensorOptional(ctx.mask()), 0.0, false,
                    new DoubleOptional(scale), false);
        }
        try (Tensor kr = k.repeat_interleave(rep, new LongOptional(1), new LongOptional());
             Tensor vr = v.repeat_interleave(rep, new LongOptional(1), new LongOptional())) {
            return torch.scaled_dot_product_attention(q, kr, vr, new TensorOptional(ctx.mask()), 0.0, false,
                    new DoubleOptional(scale), false);
        }
    }
}
