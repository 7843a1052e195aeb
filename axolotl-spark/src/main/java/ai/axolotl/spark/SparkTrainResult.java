package ai.axolotl.spark;

import ai.axolotl.train.EvalResult;
import ai.axolotl.train.StepMetrics;

import java.io.Serializable;
import java.util.List;

/**
 * What a Spark training run returns to the driver: rank 0's outcome.
 *
 * @param steps optimizer steps completed (including those before a resume)
 * @param losses the loss of every step from step 1 (steps before a resume come from the checkpoint's state)
 * @param history the metrics of each step the finishing stage attempt ran
 * @param finalEval the last evaluation, or null without a validation set
 * @param outputDir where the model was exported
 * @param datasetFingerprint fingerprint of the tokenized rows, as {@code axolotl train} computes it
 * @param stoppedEarly true when the loss watchdog stopped the run
 * @param stageAttempt the barrier stage's attempt that finished (0: no retry was needed)
 * @param resumedFrom the checkpoint that attempt resumed from, or null
 * @param inputRows rows of the DataFrame written for the ranks
 */
public record SparkTrainResult(int steps, List<Double> losses, List<StepMetrics> history, EvalResult finalEval,
                               String outputDir, String datasetFingerprint, boolean stoppedEarly, int stageAttempt,
                               String resumedFrom, long inputRows) implements Serializable {
    /** Copies the lists so the record stays immutable. */
    public SparkTrainResult {
        losses = List.copyOf(losses);
        history = List.copyOf(history);
    }

    /** The loss of the last step. */
    public double finalLoss() {
        return losses.isEmpty() ? Double.NaN : losses.get(losses.size() - 1);
    }
}
