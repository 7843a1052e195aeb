package ai.axolotl.spark;

/**
 * The training stage failed more often than Spark retries it ({@code spark.stage.maxConsecutiveAttempts}); the
 * message carries Spark's reason and the first line of the rank's error.
 */
public final class SparkStageFailedException extends SparkTrainingException {
    /** @param message one line */
    public SparkStageFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
