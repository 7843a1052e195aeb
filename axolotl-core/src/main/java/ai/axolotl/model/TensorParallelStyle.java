package ai.axolotl.model;

/**
 * How a parameter is laid out over the tensor-parallel ranks (Megatron's layout). The model declares one style per
 * parameter ({@link DecoderModel#tensorParallelStyle}); a tensor-parallel plan slices by it, and checkpoints record
 * it so a later run on another mesh can find the slices it owns.
 */
public enum TensorParallelStyle {
    /** Split by output features (dimension 0): q, k, v, gate and up projections, the output head. */
    COLUMN(0),
    /** Split by input features (dimension 1): o and down projections; their outputs are partial sums. */
    ROW(1),
    /** The embedding, split by vocabulary rows (dimension 0); its outputs are partial sums. */
    VOCAB(0),
    /**
     * Whole on every rank: the RMSNorm weights. Under sequence parallelism each rank normalises its own part of
     * the sequence, so their gradients are partial and are summed over the tensor-parallel group.
     */
    REPLICATED(-1);

    private final int shardDim;

    TensorParallelStyle(int shardDim) {
        this.shardDim = shardDim;
    }

    /** The dimension split over the tensor-parallel ranks, or -1 when the parameter is replicated. */
    public int shardDim() {
        return shardDim;
    }

    /** True when each tensor-parallel rank holds a slice. */
    public boolean sharded() {
        return shardDim >= 0;
    }

    /** The placement's name in checkpoint metadata: {@code shard(0)}, {@code shard(1)} or {@code replicate}. */
    public String placement() {
        return sharded() ? "shard(" + shardDim + ")" : "replicate";
    }
}
