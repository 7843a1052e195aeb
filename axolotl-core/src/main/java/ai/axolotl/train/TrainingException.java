package ai.axolotl.train;

/** A run that cannot start or continue; the message is one line naming the key, file or rank at fault. */
public class TrainingException extends RuntimeException {
    /** @param message one line */
    public TrainingException(String message) {
        super(message);
    }

    /** @param message one line */
    public TrainingException(String message, Throwable cause) {
        super(message, cause);
    }
}
