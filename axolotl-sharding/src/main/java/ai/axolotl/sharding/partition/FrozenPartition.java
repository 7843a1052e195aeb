package ai.axolotl.sharding.partition;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.DataPtr;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Storage;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A frozen tensor of the model (a full-precision frozen parameter, or the packed codes and absmax of an NF4 weight)
 * partitioned over the shard group as it is stored, bytes for bytes in its own type: flattened and padded to
 * {@code world x chunk} elements, this rank keeping elements {@code [rank*chunk, (rank+1)*chunk)}. It has no
 * gradient, no optimizer state and no checkpoint (every rank loaded the same base, so each keeps its part of its
 * own copy: no communication at setup). The model's tensor becomes a view of one padded flat buffer whose storage
 * is freed in place between uses and all-gathered into again before the next, as {@link ShardedParameter} does, so
 * what autograd saved in forward reads the gathered values again in backward. A gather returns the exact bytes: the
 * computation is the one of a rank holding the whole base.
 */
final class FrozenPartition implements GatheredTensor, AutoCloseable {
    private final String name;
    private final long numel;
    private final long chunk;
    private final int world;
    private final long[] shape;
    private final Tensor shard;
    private final Tensor flat;
    private final long flatBytes;
    private boolean allocated = true;
    private boolean present = true;

    /**
     * @param name the name the unit gives the tensor
     * @param tensor the model's tensor (whole, as this rank loaded it); it becomes a view of the flat buffer
     * @param rank this rank in the shard group
     * @param world the shard group's size
     */
    FrozenPartition(String name, Tensor tensor, int rank, int world) {
        this.name = name;
        this.shape = tensor.shape();
        this.numel = tensor.numel();
        this.world = world;
        this.chunk = (numel + world - 1) / world;
        try (NoGradGuard g = new NoGradGuard(); Tensor d = tensor.detach(); Tensor c = d.contiguous();
             Tensor values = c.reshape(-1)) {
            this.flat = Tensors.unscoped(torch.empty(new long[] {world * chunk}, Tensors.optionsOn(
                    tensor.scalar_type(), tensor), null));
            this.shard = Tensors.unscoped(torch.zeros(new long[] {chunk}, Tensors.optionsOn(tensor.scalar_type(),
                    tensor)));
            long start = Math.min(numel, rank * chunk);
            long len = Math.max(0, Math.min(numel, start + chunk) - start);
            if (len > 0) {
                try (Tensor part = values.narrow(0, start, len); Tensor dst = shard.narrow(0, 0, len)) {
                    dst.copy_(part);
                }
            }
            try (Tensor used = flat.narrow(0, 0, numel); Tensor view = used.view(shape)) {
                tensor.set_data(view); // the whole copy this rank loaded is released here
            }
        }
        try (Storage s = flat.storage()) {
            this.flatBytes = s.nbytes();
        }
        free();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long numel() {
        return numel;
    }

    @Override
    public boolean keepsFull() {
        return false;
    }

    @Override
    public boolean present() {
        return present;
    }

    /** This rank's part, in the tensor's own type. */
    Tensor shard() {
        return shard;
    }

    @Override
    public long heldGatheredBytes() {
        try (Storage s = flat.storage()) {
            return s.nbytes();
        }
    }

    @Override
    public CollectiveWork startGather(Collectives group) {
        if (!allocated) {
            try (Storage s = flat.storage(); DataPtr data = s.allocator()._allocate(flatBytes)) {
                s.set_data_ptr_noswap(data);
                s.set_nbytes(flatBytes);
            }
            allocated = true;
        }
        return group.allGather(flat, shard);
    }

    @Override
    public void install(CollectiveWork gather) {
        gather.await();
        present = true;
    }

    @Override
    public void free() {
        if (!allocated) {
            return;
        }
        try (Storage s = flat.storage(); DataPtr none = new DataPtr()) {
            s.set_data_ptr_noswap(none);
            s.set_nbytes(0);
        }
        allocated = false;
        present = false;
    }

    /** The whole tensor gathered into a new tensor of its shape (for export); the caller closes it. */
    Tensor gatherCopy(Collectives group) {
        try (Tensor all = torch.empty(new long[] {world * chunk}, Tensors.optionsOn(shard.scalar_type(), shard),
                null)) {
            group.allGather(all, shard).await();
            try (Tensor used = all.narrow(0, 0, numel); Tensor view = used.view(shape)) {
                return view.clone();
            }
        }
    }

    @Override
    public void close() {
        flat.close();
        shard.close();
    }
}
