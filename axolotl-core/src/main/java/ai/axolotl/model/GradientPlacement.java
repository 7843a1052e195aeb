package ai.axolotl.model;

/**
 * Where a parameter's gradient stands after one tensor-parallel rank's backward, declared by the model with each
 * parameter: the tensor-parallel plan sums exactly the partial ones over its group before the data-parallel layer
 * reduces them.
 */
public enum GradientPlacement {
    /** A split parameter: each rank's gradient is complete for the slice it holds. */
    SHARD,
    /**
     * Replicated and used between the parallel regions (the layer norms, the final norm): every rank sees the whole
     * sequence and computes the same whole gradient, except under sequence parallelism, where each rank normalises
     * its own part of the sequence and the gradients are partial sums.
     */
    PARTIAL_UNDER_SEQUENCE_PARALLEL,
    /**
     * Replicated and used inside a parallel region on this rank's heads or partial sums (Qwen3's and Gemma3's
     * q/k norms, a row-parallel projection's bias, of which each rank adds 1/tp): the gradient is always a
     * partial sum over the tensor-parallel group.
     */
    PARTIAL
}
