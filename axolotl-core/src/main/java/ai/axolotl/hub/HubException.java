package ai.axolotl.hub;

/** A Hub reference that cannot be resolved; the message names the repository, revision and file. */
public final class HubException extends RuntimeException {
    /** @param message one line naming the repository, revision and file */
    public HubException(String message) {
        super(message);
    }

    /** @param message one line naming the repository, revision and file */
    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
