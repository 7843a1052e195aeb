package ai.axolotl.data;

import ai.axolotl.config.AxolotlConfig;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The rows of a run and which of them each rank uses in each micro-step.
 *
 * <p>Examples are shuffled once with {@code seed}; the last {@code val_set_size} of them are held out for
 * evaluation; the rest are packed into rows. Each epoch visits the rows in a permutation drawn from
 * {@code seed + epoch}. Optimizer step {@code s} uses the global batch of {@code micro_batch_size x
 * gradient_accumulation_steps x data-parallel world} consecutive rows of that permutation; rank {@code r} takes
 * the r-th contiguous block of it, and micro-step {@code m} the m-th slice of that block. So one process with
 * accumulation N·G and N ranks with accumulation G see the same rows in each step. A last partial global batch
 * of an epoch is dropped.
 */
public final class TrainingData {
    private final List<PackedRow> trainRows;
    private final List<PackedRow> valRows;
    private final long seed;
    private final int microBatchSize;
    private final int accumulation;
    private final int dataParallel;
    private final int stepsPerEpoch;
    private final int totalSteps;
    private int cachedEpoch = -1;
    private int[] order;

    /**
     * @param config the run's config
     * @param dataset tokenized examples
     * @param dataParallel number of data-parallel ranks that split each global batch
     */
    public TrainingData(AxolotlConfig config, TokenizedDataset dataset, int dataParallel) {
        this.seed = config.training().seed();
        this.microBatchSize = config.training().microBatchSize();
        this.accumulation = config.training().gradientAccumulationSteps();
        this.dataParallel = dataParallel;
        List<Example> shuffled = new ArrayList<>(dataset.examples());
        Collections.shuffle(shuffled, new Random(seed));
        double v = config.data().valSetSize();
        int nVal = v <= 0 ? 0 : v < 1 ? (int) Math.ceil(v * shuffled.size()) : (int) v;
        if (nVal >= shuffled.size()) {
            throw new DataException("val_set_size " + v + " leaves no training examples (dataset has "
                    + shuffled.size() + ")");
        }
        int seqLen = config.data().sequenceLen();
        boolean packing = config.data().samplePacking();
        this.trainRows = RowPacker.pack(shuffled.subList(0, shuffled.size() - nVal), seqLen, packing);
        this.valRows = RowPacker.pack(shuffled.subList(shuffled.size() - nVal, shuffled.size()), seqLen, packing);
        int perStep = globalBatchRows();
        this.stepsPerEpoch = trainRows.size() / perStep;
        if (stepsPerEpoch == 0) {
            throw new DataException("the training set has " + trainRows.size() + " rows, fewer than one global batch"
                    + " of " + perStep + " (micro_batch_size " + microBatchSize + " x gradient_accumulation_steps "
                    + accumulation + " x " + dataParallel + " data-parallel ranks)");
        }
        Integer max = config.training().maxSteps();
        this.totalSteps = max != null ? max : (int) Math.ceil(config.training().numEpochs() * stepsPerEpoch);
    }

    /** Rows in one optimizer step across all data-parallel ranks. */
    public int globalBatchRows() {
        return microBatchSize * accumulation * dataParallel;
    }

    /** Optimizer steps in one pass over the training rows. */
    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** Optimizer steps of the whole run. */
    public int totalSteps() {
        return totalSteps;
    }

    /** Number of training rows. */
    public int trainRowCount() {
        return trainRows.size();
    }

    /** Rows held out for evaluation. */
    public List<PackedRow> valRows() {
        return valRows;
    }

    /** The epoch (fractional) reached after {@code stepsDone} steps. */
    public double epochAt(int stepsDone) {
        return (double) stepsDone / stepsPerEpoch;
    }

    private synchronized int[] order(int epoch) {
        if (epoch != cachedEpoch) {
            int[] o = new int[trainRows.size()];
            for (int i = 0; i < o.length; i++) {
                o[i] = i;
            }
            Random rnd = new Random(seed + epoch);
            for (int i = o.length - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = o[i];
                o[i] = o[j];
                o[j] = t;
            }
            order = o;
            cachedEpoch = epoch;
        }
        return order;
    }

    /** The rows of global batch {@code step} (0-based) in order. */
    public List<PackedRow> globalBatch(int step) {
        int epoch = step / stepsPerEpoch;
        int offset = (step % stepsPerEpoch) * globalBatchRows();
        int[] o = order(epoch);
        List<PackedRow> rows = new ArrayList<>(globalBatchRows());
        for (int i = 0; i < globalBatchRows(); i++) {
            rows.add(trainRows.get(o[offset + i]));
        }
        return rows;
    }

    /** The rows rank {@code rank} uses in micro-step {@code micro} of step {@code step}. */
    public List<PackedRow> microBatch(int step, int rank, int micro) {
        List<PackedRow> global = globalBatch(step);
        int start = (rank * accumulation + micro) * microBatchSize;
        return global.subList(start, start + microBatchSize);
    }

    /** Evaluation batches of at most {@code batchSize} rows over the held-out rows. */
    public List<List<PackedRow>> evalBatches(int batchSize) {
        return batches(valRows, batchSize);
    }

    /** Consecutive batches of at most {@code batchSize} rows. */
    public static List<List<PackedRow>> batches(List<PackedRow> rows, int batchSize) {
        List<List<PackedRow>> out = new ArrayList<>();
        for (int i = 0; i < rows.size(); i += batchSize) {
            out.add(rows.subList(i, Math.min(rows.size(), i + batchSize)));
        }
        return out;
    }
}
