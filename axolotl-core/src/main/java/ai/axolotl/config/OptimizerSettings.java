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
 * @param loraplusLrRatio {@code loraplus_lr_ratio}: LoRA+ (PEFT's {@code create_loraplus_optimizer}): lora_B and
 *     1-D parameters train at this multiple of the learning rate, and every group's weight decay is PEFT's
 *     {@code loraplus_weight_decay} (0); null: no LoRA+
 * @param loraplusLrEmbedding {@code loraplus_lr_embedding}: the learning rate of a trainable embedding under LoRA+
 */
public record OptimizerSettings(
        String optimizer,
        @Positive double learningRate,
        @PositiveOrZero double weightDecay,
        @PositiveOrZero @DecimalMax(value = "1.0", inclusive = false) double adamBeta1,
        @PositiveOrZero @DecimalMax(value = "1.0", inclusive = false) double adamBeta2,
        @Positive double adamEpsilon,
        @PositiveOrZero double maxGradNorm,
        @Positive Double loraplusLrRatio,
        @Positive double loraplusLrEmbedding) implements Serializable {

    /** Settings without LoRA+. */
    public OptimizerSettings(String optimizer, double learningRate, double weightDecay, double adamBeta1,
                             double adamBeta2, double adamEpsilon, double maxGradNorm) {
        this(optimizer, learningRate, weightDecay, adamBeta1, adamBeta2, adamEpsilon, maxGradNorm, null, 1e-6);
    }

    /**
     * How one parameter trains: the multiple of the scheduled learning rate and the weight decay. Without LoRA+,
     * transformers' rule: decay on everything but norms and biases (1-D), scale 1. With LoRA+, PEFT's four groups:
     * the embedding at {@code loraplus_lr_embedding}, lora_B and 1-D parameters at {@code lr x ratio}, the rest
     * at {@code lr}, all without weight decay.
     *
     * @param name the HF name ({@code ...q_proj.lora_B.weight}, {@code model.embed_tokens.weight})
     * @param dimensions the whole parameter's number of dimensions
     */
    public Group group(String name, int dimensions) {
        if (loraplusLrRatio == null) {
            return new Group(1.0, decays(name, dimensions) ? weightDecay : 0.0);
        }
        if (name.endsWith("embed_tokens.weight")) {
            return new Group(loraplusLrEmbedding / learningRate, 0.0);
        }
        if (name.contains(".lora_B.") || dimensions == 1) {
            return new Group(loraplusLrRatio, 0.0);
        }
        return new Group(1.0, 0.0);
    }

    /** transformers' Trainer rule: weight decay on every matrix, none on norms and biases (1-D tensors). */
    public static boolean decays(String name, long dimensions) {
        return dimensions > 1 && !name.contains("norm");
    }

    /**
     * A parameter's optimizer group.
     *
     * @param lrScale the multiple of the scheduled learning rate
     * @param weightDecay its decoupled weight decay
     */
    public record Group(double lrScale, double weightDecay) implements Serializable {}
}
