package ai.axolotl.distributed;

/** A collective in flight. {@link #await()} blocks until it completes, failing after the group's timeout. */
public interface CollectiveWork {
    /** A work that is already complete. */
    CollectiveWork DONE = () -> {};

    /** Waits for completion; throws {@link CollectiveException} naming the operation and ranks on failure. */
    void await();
}
