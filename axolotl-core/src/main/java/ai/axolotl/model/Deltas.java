package ai.axolotl.model;

/**
 * What a model family changes in the one decoder, declared rather than coded: the decoder reads these flags.
 * Values that vary by checkpoint (biases, head size, windows, RoPE tables, attention scale) are in
 * {@link ModelConfig}.
 *
 * @param norm how every RMSNorm scales ({@link NormStyle})
 * @param qkNorm an RMSNorm over {@code head_dim} on each query and key head, before RoPE ({@code q_norm},
 *               {@code k_norm}; Qwen3, Gemma3), in the family's norm style
 * @param sandwichNorms four norms per layer (Gemma2/3): the attention and MLP outputs are normalised before their
 *                      residual adds ({@code post_attention_layernorm}, {@code post_feedforward_layernorm}), and
 *                      the MLP input by {@code pre_feedforward_layernorm}
 * @param embeddingScale the embedding output multiplied by {@code sqrt(hidden_size)} cast to the compute type
 *                       (Gemma: 55.5 in bf16 for hidden 3072, not 55.4256)
 * @param activation the MLP's gate activation
 */
public record Deltas(NormStyle norm, boolean qkNorm, boolean sandwichNorms, boolean embeddingScale,
                     Activation activation) {
    /** Llama's decoder: Llama norms, no q/k norms, pre-norm layers, no embedding scale, SiLU. */
    public static final Deltas LLAMA = new Deltas(NormStyle.LLAMA, false, false, false, Activation.SILU);

    /** How an RMSNorm applies its weight. */
    public enum NormStyle {
        /** {@code w * (x_fp32 * rsqrt(mean(x^2) + eps)).to(dtype)}; weights start at one. */
        LLAMA,
        /** {@code ((x_fp32 * rsqrt(mean(x^2) + eps)) * (1 + w_fp32)).to(dtype)}; weights start at zero. */
        GEMMA
    }

    /** The MLP's gate activation. */
    public enum Activation {
        /** {@code silu}. */
        SILU("silu"),
        /** {@code gelu_pytorch_tanh}: GeLU with the tanh approximation. */
        GELU_TANH("gelu_pytorch_tanh");

        private final String hfName;

        Activation(String hfName) {
            this.hfName = hfName;
        }

        /** The name in {@code config.json}. */
        public String hfName() {
            return hfName;
        }
    }
}
