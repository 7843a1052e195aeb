package ai.axolotl.config;

import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.PositiveOrZero;

import java.io.Serializable;

/**
 * How rows are made from the datasets.
 *
 * @param datasetPreparedPath directory where tokenized datasets are cached; null: no cache
 * @param valSetSize fraction (below 1) or number of examples held out for evaluation
 * @param sequenceLen maximum tokens per row; with packing, the row length
 * @param samplePacking pack several examples into each row, positions restarting, no attention across them
 * @param padToSequenceLen pad every row to {@code sequence_len} (otherwise to the longest in its micro-batch)
 * @param trainOnInputs for alpaca, also train on the prompt tokens
 * @param minSampleLen drop examples shorter than this many tokens
 * @param chat the top-level chat keys
 */
public record DataSettings(
        String datasetPreparedPath,
        @PositiveOrZero double valSetSize,
        @Min(value = 2, message = "must be at least 2") int sequenceLen,
        boolean samplePacking,
        boolean padToSequenceLen,
        boolean trainOnInputs,
        @PositiveOrZero int minSampleLen,
        ChatSettings chat) implements Serializable {

    /** Null chat settings are none. */
    public DataSettings {
        chat = chat == null ? ChatSettings.NONE : chat;
    }

    /** These settings with another {@code dataset_prepared_path}. */
    public DataSettings withDatasetPreparedPath(String path) {
        return new DataSettings(path, valSetSize, sequenceLen, samplePacking, padToSequenceLen, trainOnInputs,
                minSampleLen, chat);
    }

    /** Settings without top-level chat keys. */
    public DataSettings(String datasetPreparedPath, double valSetSize, int sequenceLen, boolean samplePacking,
            boolean padToSequenceLen, boolean trainOnInputs, int minSampleLen) {
        this(datasetPreparedPath, valSetSize, sequenceLen, samplePacking, padToSequenceLen, trainOnInputs,
                minSampleLen, ChatSettings.NONE);
    }
}
