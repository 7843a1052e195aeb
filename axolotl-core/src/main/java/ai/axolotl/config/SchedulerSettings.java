package ai.axolotl.config;

import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.PositiveOrZero;

import java.io.Serializable;

/**
 * The learning-rate schedule (Hugging Face semantics).
 *
 * @param lrScheduler {@code constant}, {@code constant_with_warmup}, {@code linear} or {@code cosine}
 * @param warmupSteps linear warmup steps; null: from warmup_ratio, else Axolotl's default
 * @param warmupRatio warmup as a fraction of total steps; null when warmup_steps is used
 * @param cosineMinLrRatio cosine decays to this fraction of the peak instead of zero
 */
public record SchedulerSettings(
        String lrScheduler,
        @PositiveOrZero Integer warmupSteps,
        @PositiveOrZero @DecimalMax("1.0") Double warmupRatio,
        @PositiveOrZero @DecimalMax("1.0") double cosineMinLrRatio) implements Serializable {}
