package ai.axolotl.train;

import java.nio.file.Path;
import java.util.List;

/**
 * The outcome of {@link Trainer#fit()}.
 *
 * @param steps optimizer steps completed (including those before a resume)
 * @param losses loss of every step, from step 1
 * @param finalEval evaluation at the end, or null without a validation set
 * @param outputDir where the model was exported
 * @param datasetFingerprint fingerprint of the tokenized dataset
 * @param stoppedEarly true when the loss watchdog stopped the run
 */
public record TrainResult(int steps, List<Double> losses, EvalResult finalEval, Path outputDir,
                          String datasetFingerprint, boolean stoppedEarly) {
    /** Loss of the last step. */
    public double finalLoss() {
        return losses.isEmpty() ? Double.NaN : losses.get(losses.size() - 1);
    }
}
