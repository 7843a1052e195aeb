package ai.axolotl.sharding.partition;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * One parameter partitioned over the data-parallel ranks: the parameter flattened and padded to
 * {@code world x chunk} elements, rank r owning elements {@code [r*chunk, (r+1)*chunk)}. Any shape and any world
 * size work (padding is zero and stays zero). Holds the rank's fp32 master shard (what the optimizer updates) and
 * its gradient shard.
 *
 * <p>The model's tensor for the parameter is always a view of one padded flat buffer ({@link #flat}). When the
 * parameter is partitioned, that buffer's storage is freed in place ({@link #free()}: the storage keeps its
 * identity with zero bytes) and allocated and all-gathered into again before the next use ({@link #startGather}).
 * Every view of the parameter that autograd saved in forward shares that storage, so a backward that follows a
 * free and a new gather reads the gathered values without the forward being run again (what FSDP2 does by
 * resizing the unsharded storage).
 */
public final class ShardedParameter implements GatheredTensor, AutoCloseable {
    private final String name;
    private final Tensor param;
    private final long[] shape;
    private final long numel;
    private final long chunk;
    private final int world;
    private final int rank;
    private final Tensor shard;
    private final Tensor shardGrad;
    private final Tensor flat;
    private final boolean keepFull;
    private final ScalarType gatherType;
    private final InPlaceStorage storage;
    private boolean present = true;

    /**
     * @param name HF name
     * @param param the model's tensor for this parameter (a placeholder without storage on ranks that receive
     *     their partitions from rank 0); it becomes a view of the flat buffer
     * @param source the full parameter's values (the model's tensor itself, or what rank 0 sent)
     * @param rank this rank among the data-parallel ranks
     * @param world number of data-parallel ranks
     * @param keepFull the full parameter stays in the model (ZeRO 1-2, persistent ZeRO-3 parameters): the flat
     *     buffer is fp32 and the shard is a view of this rank's chunk of it, so the master copy is not held
     *     twice; otherwise the shard is a separate fp32 tensor and the flat buffer (in {@code gatherType}) is
     *     freed between uses
     * @param rowAligned every partition holds whole rows (dim-0 sharding as FSDP2 does, padding rows when the
     *     world does not divide them); false: flat elements (ZeRO)
     * @param gatherType the type a partitioned parameter is gathered (and computed) in: bf16 halves what is
     *     gathered while the master partition, the optimizer and the gradient reduction stay fp32
     */
    public ShardedParameter(String name, Tensor param, Tensor source, int rank, int world, boolean keepFull,
                            boolean rowAligned, ScalarType gatherType) {
        this(name, param, source, rank, world, keepFull, rowAligned, gatherType, 1);
    }

    /**
     * As above, with every partition a multiple of {@code align} elements (a low-bit optimizer's block), so each
     * block of the whole parameter lies in one partition and the state's blocks do not depend on the world size.
     */
    public ShardedParameter(String name, Tensor param, Tensor source, int rank, int world, boolean keepFull,
                            boolean rowAligned, ScalarType gatherType, int align) {
        this.name = name;
        this.param = param;
        this.shape = source.shape();
        this.numel = source.numel();
        this.rank = rank;
        this.chunk = chunkOf(shape, world, rowAligned, align);
        this.world = world;
        this.keepFull = keepFull;
        this.gatherType = keepFull ? ScalarType.Float : gatherType;
        this.shardGrad = Tensors.unscoped(Tensors.zerosOn(param, chunk));
        try (NoGradGuard g = new NoGradGuard(); Tensor detached = source.detach(); Tensor values = detached.reshape(-1)) {
            // a partitioned parameter's buffer is never filled here (its pages are never touched): it is freed
            // below and first gathered before its unit runs, so setup holds one full copy of a parameter at most
            this.flat = Tensors.unscoped(torch.empty(new long[] {world * chunk}, Tensors.optionsOn(this.gatherType, param),
                    null));
            if (keepFull) {
                flat.zero_();
                try (Tensor dst = flat.narrow(0, 0, numel)) {
                    dst.copy_(values);
                }
                this.shard = Tensors.unscoped(flat.narrow(0, rank * chunk, chunk));
            } else {
                this.shard = Tensors.unscoped(Tensors.zerosOn(param, chunk));
                long start = Math.min(numel, rank * chunk);
                long len = Math.max(0, Math.min(numel, start + chunk) - start);
                if (len > 0) {
                    try (Tensor part = values.narrow(0, start, len); Tensor dst = shard.narrow(0, 0, len)) {
                        dst.copy_(part);
                    }
                }
            }
            try (Tensor used = flat.narrow(0, 0, numel); Tensor view = used.view(shape)) {
                param.set_data(view);
            }
        }
        this.storage = new InPlaceStorage(flat);
        shard.requires_grad_(true);
        shard.mutable_grad().put(shardGrad);
        free();
    }

    /** Elements per partition of a tensor of {@code shape} over {@code world} ranks. */
    public static long chunkOf(long[] shape, int world, boolean rowAligned) {
        return chunkOf(shape, world, rowAligned, 1);
    }

    /** {@link #chunkOf(long[], int, boolean)} rounded up to a multiple of {@code align} elements. */
    public static long chunkOf(long[] shape, int world, boolean rowAligned, int align) {
        long numel = 1;
        for (long d : shape) {
            numel *= d;
        }
        if (!rowAligned || shape.length == 0) {
            long c = (numel + world - 1) / world;
            return (c + align - 1) / align * align;
        }
        long rowSize = numel / shape[0];
        long rows = (shape[0] + world - 1) / world;
        long step = align / gcd(rowSize, align); // whole rows whose count keeps the partition aligned
        rows = (rows + step - 1) / step * step;
        return rows * rowSize;
    }

    private static long gcd(long a, long b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /** Trailing elements of this rank's partition past the parameter's end (padding). */
    public long padding() {
        long start = Math.min(numel, (long) rank * chunk);
        long len = Math.max(0, Math.min(numel, start + chunk) - start);
        return chunk - len;
    }

    /** True when the full parameter always stays in the model. */
    @Override
    public boolean keepsFull() {
        return keepFull;
    }

    /** HF name. */
    @Override
    public String name() {
        return name;
    }

    /** The model's parameter tensor. */
    public Tensor param() {
        return param;
    }

    /** Elements of the full parameter. */
    @Override
    public long numel() {
        return numel;
    }

    /** Elements per rank (with padding). */
    public long chunk() {
        return chunk;
    }

    /** Full shape. */
    public long[] shape() {
        return shape.clone();
    }

    /** This rank's fp32 master shard; the optimizer updates it; its grad is {@link #shardGrad()}. */
    public Tensor shard() {
        return shard;
    }

    /** This rank's gradient shard (summed over ranks and micro-batches). */
    public Tensor shardGrad() {
        return shardGrad;
    }

    /** True while the full parameter's values are in the model's tensor. */
    @Override
    public boolean present() {
        return present;
    }

    /** Bytes the gathered parameter's storage holds now, read from the storage itself (0 while freed). */
    @Override
    public long heldGatheredBytes() {
        return storage.heldBytes();
    }

    /**
     * Starts gathering every rank's shard into the parameter's own storage (allocating it again if it was
     * freed); {@link #install} waits for it.
     */
    @Override
    public CollectiveWork startGather(Collectives group) {
        storage.allocate();
        try (Tensor master = shard.detach(); Tensor in = master.to(gatherType)) {
            return group.allGather(flat, in);
        }
    }

    /** Waits for a gather started by {@link #startGather}; the parameter then holds the full values. */
    @Override
    public void install(CollectiveWork gather) {
        gather.await();
        present = true;
    }

    /**
     * Frees the gathered parameter's memory in place: the storage (shared by the parameter and every view of it
     * autograd saved) keeps its identity with zero bytes until the next {@link #startGather}. Parameters kept
     * full are never freed.
     */
    @Override
    public void free() {
        if (keepFull || !storage.allocated()) {
            return;
        }
        storage.free();
        present = false;
    }

    /**
     * The full fp32 parameter gathered from every rank's master shard into a new tensor of the parameter's shape
     * (for export and consolidated checkpoints); the caller closes it.
     */
    public Tensor gatherCopy(Collectives group) {
        try (Tensor all = torch.empty(new long[] {world * chunk}, Tensors.optionsOn(ScalarType.Float, shard), null);
             Tensor master = shard.detach()) {
            group.allGather(all, master).await();
            try (Tensor used = all.narrow(0, 0, numel); Tensor view = used.view(shape)) {
                return view.clone();
            }
        }
    }

    /** True when the model's tensor holds a gradient for this parameter. */
    boolean hasGrad() {
        try (Tensor g = param.grad()) {
            return g.defined();
        }
    }

    /**
     * Copies the full gradient into a rank-major bucket buffer and takes it out of the parameter: rank r's chunk
     * goes to {@code bucket[r*block + offset, +chunk)}, the padding past the parameter's end is zero, and the copy
     * converts to the bucket's type.
     *
     * @param bucket the bucket's input, {@code world x block} elements
     * @param block elements of one rank's part of the bucket
     * @param offset where this parameter's chunk starts within each rank's part
     */
    void moveGradInto(Tensor bucket, long block, long offset) {
        try (NoGradGuard ng = new NoGradGuard(); Tensor g = param.grad(); Tensor flatGrad = g.reshape(-1)) {
            for (int r = 0; r < world; r++) {
                long start = (long) r * chunk;
                long len = Math.max(0, Math.min(chunk, numel - start));
                try (Tensor dst = bucket.narrow(0, r * block + offset, chunk)) {
                    if (len < chunk) {
                        try (Tensor pad = dst.narrow(0, len, chunk - len)) {
                            pad.zero_();
                        }
                    }
                    if (len > 0) {
                        try (Tensor src = flatGrad.narrow(0, start, len); Tensor d = dst.narrow(0, 0, len)) {
                            d.copy_(src);
                        }
                    }
                }
            }
        }
        param.mutable_grad().put(new Tensor());
    }

    /** Bytes of the full gradient the model's tensor holds now (0 when none). */
    long heldFullGradBytes() {
        try (Tensor g = param.grad()) {
            return g.defined() ? g.nbytes() : 0;
        }
    }

    /** Fills the full parameter from every rank's updated shard (after the optimizer step). */
    public void refreshFromShards(Collectives group) {
        if (keepFull) {
            try (Tensor mine = shard.detach().clone()) {
                group.allGather(flat, mine).await();
            }
        } else if (present) {
            install(startGather(group));
        }
    }

    @Override
    public void close() {
        flat.close();
        shard.close();
        shardGrad.close();
    }
}
