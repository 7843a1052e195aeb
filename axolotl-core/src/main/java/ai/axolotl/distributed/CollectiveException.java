package ai.axolotl.distributed;

/** A collective or rendezvous that failed or timed out; the message names the operation and the rank(s) at fault. */
public final class CollectiveException extends RuntimeException {
    /** @param message one line naming the operation and the ranks */
    public CollectiveException(String message) {
        super(message);
    }

    /** @param message one line naming the operation and the ranks */
    public CollectiveException(String message, Throwable cause) {
        super(message, cause);
    }
}
