package ai.axolotl.distributed;

import java.util.Map;

/**
 * What one rank tells and asks the other ranks of its run outside the collectives, over the rendezvous store: the
 * preflight comparison, agreement points, its own failure, and its progress for the peer monitor. A rank that
 * fails anywhere (not inside a collective) reports it here, so the others stop at their next agreement point or
 * wait, naming it, instead of waiting for it until the collective timeout.
 */
public interface Peers {
    /** Every rank's facts must equal rank 0's; throws on every rank, naming the ranks and the items, otherwise. */
    void preflight(Map<String, String> facts);

    /**
     * Waits until every rank reached {@code point}; throws, naming the rank and its message, as soon as a rank
     * reports a failure instead, and naming the missing rank after the timeout.
     */
    void agree(String point);

    /** Tells the other ranks this rank failed with {@code message} (its first line); best effort, never throws. */
    void reportFailure(String message);

    /** Records that this rank finished optimizer step {@code step}. */
    void progress(long step);
}
