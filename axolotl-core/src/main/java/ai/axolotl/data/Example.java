package ai.axolotl.data;

/**
 * One tokenized training example.
 *
 * @param inputIds token ids
 * @param labels per-token targets: the token id, or -100 where the token is not trained on (the prompt)
 */
public record Example(int[] inputIds, int[] labels) {
    /** Checks both arrays have the same length. */
    public Example {
        if (inputIds.length != labels.length) {
            throw new IllegalArgumentException("input_ids and labels differ in length: " + inputIds.length
                    + " vs " + labels.length);
        }
    }

    /** Number of tokens. */
    public int length() {
        return inputIds.length;
    }
}
