package ai.axolotl.spark;

import ai.axolotl.train.TrainingException;

/**
 * A Spark training run that cannot start or did not finish; the message is one line naming the Spark setting,
 * config key, column, file or rank at fault.
 */
public class SparkTrainingException extends TrainingException {
    /** @param message one line */
    public SparkTrainingException(String message) {
        super(message);
    }

    /** @param message one line */
    public SparkTrainingException(String message, Throwable cause) {
        super(message, cause);
    }
}
