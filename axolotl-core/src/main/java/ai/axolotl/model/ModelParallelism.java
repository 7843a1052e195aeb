package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

/**
 * What the model's layers call where tensor parallelism communicates; the model itself keeps no distributed
 * logic. {@link #NONE} is the dense model. A tensor-parallel plan supplies an implementation whose methods run
 * collectives over its group and record a {@link GraphCut} in the {@link ForwardContext} for the runner to carry
 * the gradient back through.
 *
 * <p>Regions: activations between regions are replicated (or, with sequence parallelism, split along the
 * sequence); {@link #enterRegion} makes the full input a column-parallel layer needs, and {@link #exitRegion} turns
 * the partial sums of a row-parallel layer (or the vocabulary-parallel embedding) back into the between-regions
 * form.
 */
public interface ModelParallelism {
    /** The dense model: one rank, every method the identity (a new handle on the same tensor). */
    ModelParallelism NONE = new ModelParallelism() {
        @Override
        public int size() {
            return 1;
        }

        @Override
        public int rank() {
            return 0;
        }

        @Override
        public Tensor enterRegion(Tensor x, ForwardContext ctx) {
            return new Tensor(x);
        }

        @Override
        public Tensor exitRegion(Tensor partial, ForwardContext ctx) {
            return new Tensor(partial);
        }

        @Override
        public Tensor lossSum(Tensor logits, Tensor labels) {
            return CausalLmLoss.sum(logits, labels);
        }
    };

    /** Number of tensor-parallel ranks. */
    int size();

    /** This rank's index among them. */
    int rank();

    /**
     * Before a column-parallel layer: the full (all sequence positions, all features) input. Sequence parallel:
     * all-gather along the sequence (backward: reduce-scatter); otherwise identity (backward: all-reduce).
     */
    Tensor enterRegion(Tensor x, ForwardContext ctx);

    /**
     * After a row-parallel layer: sums the partial results over the ranks. Sequence parallel: reduce-scatter along
     * the sequence, each rank keeping its part (backward: all-gather); otherwise all-reduce (backward: identity).
     */
    Tensor exitRegion(Tensor partial, ForwardContext ctx);

    /**
     * Summed next-token cross entropy of {@code logits} (this rank's vocabulary slice when the head is column
     * parallel: computed without gathering the full logits) against full {@code labels}.
     */
    Tensor lossSum(Tensor logits, Tensor labels);

    /**
     * Summed cross entropy of logits already aligned with their targets ([N, vocab or this rank's slice] against
     * [N] full targets, -100 ignored): one chunk of {@link ChunkedCrossEntropy}.
     */
    default Tensor lossSumAligned(Tensor logits, Tensor targets) {
        return CausalLmLoss.alignedSum(logits, targets);
    }

    /**
     * The whole tensor from every rank's {@code slice} concatenated along {@code dim} in rank order, a new tensor
     * the caller closes; a collective over the tensor-parallel group (every rank calls it with its slice of the
     * same tensor). QLoRA quantizes the whole weight this way, one projection at a time, so that each rank's NF4
     * slice is the one-process quantization's.
     */
    default Tensor gatherWhole(Tensor slice, int dim) {
        if (size() == 1) {
            return slice.clone();
        }
        throw new UnsupportedOperationException("this parallelism cannot gather a whole tensor");
    }

    /** Rows of a micro-batch's sequence must be a multiple of this (sequence parallel splits them evenly). */
    default int sequenceMultiple() {
        return 1;
    }
}
