package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

/**
 * Computes attention over already projected and rotated queries, keys and values, with the layer's mask and the
 * model's score scale from the {@link ForwardContext}. Context parallelism can substitute a kernel that exchanges
 * keys and values between ranks.
 */
public interface AttentionKernel {
    /**
     * @param q [B, heads, T, head_dim]
     * @param k [B, kv_heads, T, head_dim]
     * @param v [B, kv_heads, T, head_dim]
     * @param layer the decoder layer's index (its mask: {@link ForwardContext#mask(int)})
     * @return [B, heads, T, head_dim]
     */
    Tensor attend(Tensor q, Tensor k, Tensor v, ForwardContext ctx, int layer);
}
