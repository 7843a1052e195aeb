package ai.axolotl.data;

/** A dataset that cannot be read or tokenized; the message names the file (and row) and what was expected. */
public final class DataException extends RuntimeException {
    /** @param message one line naming the file or row */
    public DataException(String message) {
        super(message);
    }

    /** @param message one line naming the file or row */
    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
