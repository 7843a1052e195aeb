package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

/**
 * Computes attention over already projected and rotated queries, keys and values. Context parallelism can
 * substitute a kernel that exchanges keys and values between ranks.
 */
public interface AttentionKernel {
    /**
     * @param q [B, heads, T, head_dim]
     * @param k [B, kv_heads, T, head_dim]
     * @param v [B, kv_heads, T, head_dim]
     * @return [B, heads, T, head_dim]
     */
    Tensor attend(Tensor q, Tensor k, Tensor v, ForwardContext ctx);
}
