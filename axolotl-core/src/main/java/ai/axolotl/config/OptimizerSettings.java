package ai.axolotl.config;

import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.Positive;
import jakarta.validation.constraints.PositiveOrZero;

import java.io.Serializable;

/**
 * The optimizer.
 *
 * @param optimizer {@code adamw} (from adamw_torch and its aliases), {@code sgd}, or a low-bit AdamW:
 *     {@code adamw_8bit} (bitsandbytes), {@code adamw_torch_8bit} or {@code adamw_torch_4bit} (torchao)
 * @param learningRate peak learning rate
 * @param weightDecay decoupled weight decay, applied to every parameter except norms
 * @param adamBeta1 AdamW beta1
 * @param adamBeta2 AdamW beta2
 * @param adamEpsilon AdamW epsilon
 * @param maxGradNorm clip the global gradient norm to this; 0: no clipping
 */
public record OptimizerSettings(
        String optimizer,
        @Positive double learningRate,
        @PositiveOrZero double weightDecay,
        @PositiveOrZero @DecimalMax(value = "1.0", inclusive = false) double adamBeta1,
        @PositiveOrZero @DecimalMax(value = "1.0", inclusive = false) double adamBeta2,
        @Positive double adamEpsilon,
        @PositiveOrZero double maxGradNorm) implements Serializable {}
