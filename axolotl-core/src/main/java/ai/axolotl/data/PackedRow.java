package ai.axolotl.data;

/**
 * One row of a micro-batch before padding: one or more examples back to back.
 *
 * @param inputIds token ids
 * @param labels targets (-100: not trained on)
 * @param positionIds positions, restarting at 0 for each example
 * @param segmentIds 1, 2, ... per example; attention never crosses segments
 */
public record PackedRow(int[] inputIds, int[] labels, int[] positionIds, int[] segmentIds) {
    /** Number of tokens. */
    public int length() {
        return inputIds.length;
    }
}
