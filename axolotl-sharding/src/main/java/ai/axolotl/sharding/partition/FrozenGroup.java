package ai.axolotl.sharding.partition;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The frozen tensors of one unit (an adapter's frozen base: full-precision frozen parameters, NF4 codes and
 * absmax) partitioned over the shard group as raw bytes, all in one buffer, so a unit's frozen base is one
 * all-gather (as FSDP2 gathers a unit's flat parameter group) however many tensors and types it holds. The tensors'
 * bytes lie one after another (each at a 64-byte offset) in a blob padded to {@code world x chunk} bytes; this rank
 * keeps bytes {@code [rank*chunk, (rank+1)*chunk)}. Each tensor of the model becomes a typed view of the blob whose
 * storage is freed in place between uses and all-gathered into again before the next, as {@link ShardedParameter}
 * does, so what autograd saved in forward reads the gathered values in backward. There is no gradient, optimizer
 * state or checkpoint: every rank loaded the same base, so each keeps its part of its own copy (no communication at
 * setup), and a gather returns the exact bytes.
 */
final class FrozenGroup implements GatheredTensor, AutoCloseable {
    private static final long ALIGN = 64;
    private final String name;
    private final Map<String, long[]> offsets = new LinkedHashMap<>(); // name -> {byte offset, bytes}
    private final Map<String, Tensor> views = new LinkedHashMap<>();
    private final long bytes;
    private final long chunk;
    private final int world;
    private final Tensor shard;
    private final Tensor flat;
    private final InPlaceStorage storage;
    private boolean present = true;

    /**
     * @param name the group's name ({@code frozen:<unit>})
     * @param tensors the model's tensors by name, whole as this rank loaded them; each becomes a view of the blob
     * @param rank this rank in the shard group
     * @param world the shard group's size
     */
    FrozenGroup(String name, Map<String, Tensor> tensors, int rank, int world) {
        this.name = name;
        this.world = world;
        long at = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            long n = e.getValue().nbytes();
            offsets.put(e.getKey(), new long[] {at, n});
            at = (at + n + ALIGN - 1) / ALIGN * ALIGN;
        }
        this.bytes = at;
        this.chunk = (bytes + world * ALIGN - 1) / (world * ALIGN) * ALIGN;
        Tensor anyTensor = tensors.values().iterator().next();
        try (NoGradGuard g = new NoGradGuard()) {
            this.flat = Tensors.unscoped(torch.empty(new long[] {world * chunk},
                    Tensors.optionsOn(ScalarType.Byte, anyTensor), null));
            this.shard = Tensors.unscoped(torch.zeros(new long[] {chunk},
                    Tensors.optionsOn(ScalarType.Byte, anyTensor)));
            long mineStart = rank * chunk;
            long mineEnd = mineStart + chunk;
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                Tensor t = e.getValue();
                long[] o = offsets.get(e.getKey());
                long from = Math.max(o[0], mineStart);
                long to = Math.min(o[0] + o[1], mineEnd);
                try (Tensor d = t.detach(); Tensor c = d.contiguous(); Tensor f = c.reshape(-1);
                     Tensor raw = f.view(ScalarType.Byte)) {
                    if (from < to) {
                        try (Tensor src = raw.narrow(0, from - o[0], to - from);
                             Tensor dst = shard.narrow(0, from - mineStart, to - from)) {
                            dst.copy_(src);
                        }
                    }
                }
                try (Tensor part = flat.narrow(0, o[0], o[1]); Tensor typed = part.view(t.scalar_type());
                     Tensor view = typed.view(t.shape())) {
                    t.set_data(view); // the whole copy this rank loaded is released here
                }
                views.put(e.getKey(), t);
            }
        }
        this.storage = new InPlaceStorage(flat);
        free();
    }

    @Override
    public String name() {
        return name;
    }

    /** Bytes of the group's tensors (what the prefetch and live budgets count). */
    @Override
    public long numel() {
        return bytes;
    }

    @Override
    public boolean keepsFull() {
        return false;
    }

    @Override
    public boolean present() {
        return present;
    }

    /** The names of the tensors in this group. */
    List<String> members() {
        return Collections.unmodifiableList(new ArrayList<>(offsets.keySet()));
    }

    /** Bytes of this rank's part. */
    long shardBytes() {
        return shard.nbytes();
    }

    @Override
    public long heldGatheredBytes() {
        return storage.heldBytes();
    }

    @Override
    public CollectiveWork startGather(Collectives group) {
        storage.allocate();
        return group.allGather(flat, shard);
    }

    @Override
    public void install(CollectiveWork gather) {
        gather.await();
        present = true;
    }

    @Override
    public void free() {
        storage.free();
        present = false;
    }

    /**
     * Every member, whole, as a new tensor of its own (for export), from one gather of the group into a temporary
     * buffer; the caller closes them.
     */
    Map<String, Tensor> gatherCopies(Collectives group) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (Tensor all = torch.empty(new long[] {world * chunk}, Tensors.optionsOn(ScalarType.Byte, shard), null)) {
            group.allGather(all, shard).await();
            for (Map.Entry<String, long[]> e : offsets.entrySet()) {
                Tensor t = views.get(e.getKey());
                long[] o = e.getValue();
                try (Tensor part = all.narrow(0, o[0], o[1]); Tensor typed = part.view(t.scalar_type());
                     Tensor view = typed.view(t.shape())) {
                    out.put(e.getKey(), view.clone());
                }
            }
        }
        return out;
    }

    @Override
    public void close() {
        flat.close();
        shard.close();
    }
}
