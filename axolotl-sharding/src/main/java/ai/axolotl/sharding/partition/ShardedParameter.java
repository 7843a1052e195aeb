package ai.axolotl.sharding.partition;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * One parameter partitioned over the data-parallel ranks: the parameter flattened and padded to
 * {@code world x chunk} elements, rank r owning elements {@code [r*chunk, (r+1)*chunk)}. Any shape and any world
 * size work (padding is zero and stays zero). Holds the rank's fp32 master shard (what the optimizer updates) and
 * its gradient shard; gathers the full parameter into the model's tensor on demand and frees it again.
 */
public final class ShardedParameter implements AutoCloseable {
    private final String name;
    private final Tensor param;
    private final long[] shape;
    private final long numel;
    private final long chunk;
    private final int rank;
    private final int world;
    private final Tensor shard;
    private final Tensor shardGrad;
    private final Tensor empty;
    private final Tensor fullBuffer;
    private boolean present = true;
    private ScalarType gatherType = ScalarType.Float;

    /**
     * @param name HF name
     * @param param the model's tensor for this parameter (a placeholder without storage on ranks that receive
     *     their partitions from rank 0)
     * @param source the full parameter's values (the model's tensor itself, or what rank 0 sent)
     * @param rank this rank among the data-parallel ranks
     * @param world number of data-parallel ranks
     * @param keepFull the full parameter stays in the model (ZeRO 1-2, persistent ZeRO-3 parameters): it then
     *     lives in one padded flat buffer and the shard is a view of this rank's chunk of it, so the master copy
     *     is not held twice; otherwise the shard is a separate tensor and the parameter can be freed
     * @param rowAligned every partition holds whole rows (dim-0 sharding as FSDP2 does, padding rows when the
     *     world does not divide them); false: flat elements (ZeRO)
     */
    public ShardedParameter(String name, Tensor param, Tensor source, int rank, int world, boolean keepFull,
                            boolean rowAligned) {
        this.name = name;
        this.param = param;
        this.shape = source.shape();
        this.numel = source.numel();
        this.chunk = chunkOf(shape, world, rowAligned);
        this.rank = rank;
        this.world = world;
        this.shardGrad = Tensors.zeros(chunk);
        this.empty = Tensors.zeros(0);
        try (NoGradGuard g = new NoGradGuard(); Tensor flat = source.detach().reshape(-1)) {
            if (keepFull) {
                this.fullBuffer = Tensors.zeros(world * chunk);
                try (Tensor dst = fullBuffer.narrow(0, 0, numel)) {
                    dst.copy_(flat);
                }
                try (Tensor view = fullBuffer.narrow(0, 0, numel).view(shape)) {
                    param.set_data(view);
                }
                this.shard = fullBuffer.narrow(0, rank * chunk, chunk);
            } else {
                this.fullBuffer = null;
                this.shard = Tensors.zeros(chunk);
                long start = Math.min(numel, rank * chunk);
                long len = Math.max(0, Math.min(numel, start + chunk) - start);
                if (len > 0) {
                    try (Tensor part = flat.narrow(0, start, len); Tensor dst = shard.narrow(0, 0, len)) {
                        dst.copy_(part);
                    }
                }
            }
        }
        shard.requires_grad_(true);
        shard.mutable_grad().put(shardGrad);
    }

    /** Elements per partition of a tensor of {@code shape} over {@code world} ranks. */
    public static long chunkOf(long[] shape, int world, boolean rowAligned) {
        long numel = 1;
        for (long d : shape) {
            numel *= d;
        }
        if (!rowAligned || shape.length == 0) {
            return (numel + world - 1) / world;
        }
        long rowSize = numel / shape[0];
        return (shape[0] + world - 1) / world * rowSize;
    }

    /** True when the full parameter always stays in the model. */
    public boolean keepsFull() {
        return fullBuffer != null;
    }

    /** HF name. */
    public String name() {
        return name;
    }

    /** The model's parameter tensor. */
    public Tensor param() {
        return param;
    }

    /** Elements of the full parameter. */
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

    /** True while the full parameter is in the model's tensor. */
    public boolean present() {
        return present;
    }

    /** Starts gathering every rank's shard into a new [world*chunk] buffer. */
    public Gather startGather(Collectives group) {
        Tensor out = torch.empty(new long[] {world * chunk}, Tensors.options(gatherType), null);
        try (Tensor master = shard.detach(); Tensor in = master.to(gatherType)) {
            return new Gather(out, group.allGather(out, in));
        }
    }

    /**
     * Gathers (and so computes with) the parameter in {@code type}: bf16 halves what is gathered while the
     * master partition, the optimizer and the gradient reduction stay fp32.
     */
    public void gatherIn(ScalarType type) {
        this.gatherType = type;
    }

    /** Bytes one gather of this parameter holds. */
    public long gatheredBytes() {
        return numel * (Tensors.sameType(gatherType, ScalarType.Float) ? 4 : 2);
    }

    /** A gather in flight. */
    public record Gather(Tensor buffer, CollectiveWork work) {}

    /** Waits for a gather and makes its result the model's parameter. */
    public void install(Gather g) {
        g.work().await();
        try (NoGradGuard ng = new NoGradGuard(); Tensor full = g.buffer().narrow(0, 0, numel).view(shape)) {
            if (present) {
                param.detach().copy_(full);
            } else {
                param.set_data(full);
                present = true;
            }
        }
    }

    /** Frees the full parameter (its tensor keeps no storage until the next gather). */
    public void free() {
        if (present) {
            try (NoGradGuard g = new NoGradGuard()) {
                param.set_data(empty);
            }
            present = false;
        }
    }

    /**
     * Takes the full gradient out of the parameter (which no longer holds it) as a flat fp32 tensor padded to
     * {@code world x chunk}; null when the parameter has no gradient.
     */
    Tensor takePaddedGrad() {
        Tensor g = param.grad();
        if (!g.defined()) {
            return null;
        }
        Tensor flat;
        try (Tensor r = g.reshape(-1); Tensor f = r.to(ScalarType.Float)) { // reduce in fp32
            long pad = world * chunk - numel;
            if (pad == 0) {
                flat = f.contiguous().clone();
            } else {
                try (Tensor zeros = Tensors.zeros(pad)) {
                    flat = torch.cat(new TensorVector(f, zeros), 0);
                }
            }
        }
        param.mutable_grad().put(new Tensor());
        return flat;
    }

    /** Fills the full parameter from every rank's updated shard (after the optimizer step). */
    public void refreshFromShards(Collectives group) {
        if (fullBuffer == null) {
            install(startGather(group));
            return;
        }
        try (Tensor mine = shard.detach().clone()) {
            group.allGather(fullBuffer, mine).await();
        }
    }

    @Override
    public void close() {
        if (fullBuffer != null) {
            fullBuffer.close();
        }
        shard.close();
        shardGrad.close();
        empty.close();
    }
}
