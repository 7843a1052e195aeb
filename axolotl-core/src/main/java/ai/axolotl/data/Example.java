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

    /**
     * Tokens the loss is computed on: labels other than -100 after the first position (the label of position 0 is
     * never predicted, the loss comparing each position with the next one's label).
     */
    public int trainedTokens() {
        int n = 0;
        for (int i = 1; i < labels.length; i++) {
            n += labels[i] == -100 ? 0 : 1;
        }
        return n;
    }
}
