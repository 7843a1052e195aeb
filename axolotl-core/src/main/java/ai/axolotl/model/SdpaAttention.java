package ai.axolotl.model;

import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Masked scaled-dot-product attention through libtorch, with key/value heads shared by groups of query heads
 * (HF {@code repeat_kv}: SDPA's {@code enable_gqa} on the CPU, an explicit repeat elsewhere), the layer's mask of
 * the {@link ForwardContext} (causal within each sample, and within the sliding window on sliding layers) and the
 * model's score scale.
 */
public final class SdpaAttention implements AttentionKernel {
    @Override
    public Tensor attend(Tensor q, Tensor k, Tensor v, ForwardContext ctx, int layer) {
        long rep = q.size(1) / k.size(1);
        DoubleOptional scale = new DoubleOptional(ctx.attentionScale());
        TensorOptional mask = new TensorOptional(ctx.mask(layer));
        if (rep == 1) {
            return torch.scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale, false);
        }
        if (q.is_cpu()) {
            // enable_gqa: the CPU kernels read each key/value head for its query heads, so autograd saves no
            // repeated copy (measured: 8 layers of 8 query heads over 4,096 keys held 122 MiB less after the
            // forward; the output is bit for bit the repeated form's). CUDA keeps the repeat: there enable_gqa
            // rules out the memory-efficient kernel that takes a mask.
            return torch.scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale, true);
        }
        try (Tensor kr = k.repeat_interleave(rep, new LongOptional(1), new LongOptional());
             Tensor vr = v.repeat_interleave(rep, new LongOptional(1), new LongOptional())) {
            return torch.scaled_dot_product_attention(q, kr, vr, mask, 0.0, false, scale, false);
        }
    }
}
