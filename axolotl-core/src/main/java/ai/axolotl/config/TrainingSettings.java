package ai.axolotl.config;

import jakarta.validation.constraints.Positive;
import jakarta.validation.constraints.PositiveOrZero;

import java.io.Serializable;

/**
 * Batch, length and cadence of the run.
 *
 * @param microBatchSize rows per forward/backward on each rank
 * @param gradientAccumulationSteps micro-batches per optimizer step on each rank
 * @param evalBatchSize rows per evaluation batch
 * @param numEpochs passes over the training rows (fractions allowed)
 * @param maxSteps when set, the number of optimizer steps (overrides num_epochs)
 * @param loggingSteps steps between log lines; null: Axolotl's default from the total steps
 * @param seed seeds weight initialisation and data shuffling
 * @param evalSteps steps between evaluations; null: derived from evals_per_epoch, or only at the end
 * @param evalsPerEpoch evaluations per epoch; null when eval_steps is used
 * @param lossWatchdogThreshold stop when the loss stays above this; null: no watchdog
 * @param lossWatchdogPatience consecutive steps above the threshold before stopping
 */
public record TrainingSettings(
        @Positive int microBatchSize,
        @Positive int gradientAccumulationSteps,
        @Positive int evalBatchSize,
        @Positive double numEpochs,
        @Positive Integer maxSteps,
        @Positive Integer loggingSteps,
        long seed,
        @Positive Integer evalSteps,
        @PositiveOrZero Integer evalsPerEpoch,
        @Positive Double lossWatchdogThreshold,
        @Positive int lossWatchdogPatience) implements Serializable {}
