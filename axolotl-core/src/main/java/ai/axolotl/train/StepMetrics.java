package ai.axolotl.train;

import java.io.Serializable;

/**
 * What one optimizer step did.
 *
 * @param step 1-based step number
 * @param loss token-weighted mean loss over every micro-batch (and rank) of the step
 * @param lr learning rate used by this step
 * @param gradNorm global gradient norm before clipping
 * @param tokens non-padding tokens processed by this rank
 * @param stepMillis wall time of the step
 * @param epoch fractional epoch after the step
 */
public record StepMetrics(int step, double loss, double lr, double gradNorm, long tokens, double stepMillis,
                          double epoch) implements Serializable {}
