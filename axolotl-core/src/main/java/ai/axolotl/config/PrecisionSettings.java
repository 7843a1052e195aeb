package ai.axolotl.config;

import java.io.Serializable;

/**
 * Numeric precision as Axolotl configures it.
 *
 * @param bf16 {@code auto}, {@code true} or {@code false}; on CPU builds auto resolves to float32
 * @param fp16 half precision with loss scaling (CUDA builds only)
 * @param tf32 {@code auto}, {@code true} or {@code false}: TF32 matmuls on CUDA ({@code Tf32}); warned as having no
 *     effect elsewhere
 */
public record PrecisionSettings(String bf16, boolean fp16, String tf32) implements Serializable {
    /** True when bf16 compute was asked for explicitly ({@code bf16: true}). */
    public boolean bf16Enabled() {
        return "true".equals(bf16);
    }
}
