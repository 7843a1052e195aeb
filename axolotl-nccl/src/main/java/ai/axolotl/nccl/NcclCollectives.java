package ai.axolotl.nccl;

import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.runtime.Natives;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllgatherOptions;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.BarrierOptions;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.PrefixStore;
import org.bytedeco.pytorch.ReduceOp;
import org.bytedeco.pytorch.ReduceScatterOptions;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Work;
import org.bytedeco.pytorch.nccl.ProcessGroupNCCL;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * {@link Collectives} over c10d's {@code ProcessGroupNCCL} for CUDA builds ({@code mvn -Pgpu}); tensors must be
 * on this rank's GPU. Store ownership follows the Gloo implementation: the group gets its own store clone.
 */
public final class NcclCollectives implements Collectives {
    private final ProcessGroupNCCL pg;
    private final int rank;
    private final int size;
    private final Duration timeout;

    private NcclCollectives(ProcessGroupNCCL pg, int rank, int size, Duration timeout) {
        this.pg = pg;
        this.rank = rank;
        this.size = size;
        this.timeout = timeout;
    }

    /** True when this build can create NCCL groups (CUDA natives and a GPU). */
    public static boolean available() {
        return Natives.cudaAvailable();
    }

    /** Creates a group; every member must call it. Fails with a clear message on CPU builds. */
    public static NcclCollectives create(Store store, String prefix, int rank, int size, Duration timeout) {
        if (!available()) {
            throw new CollectiveException("NCCL needs a CUDA build (mvn -Pgpu) and a GPU; this process has none "
                    + "(use Gloo on the CPU)");
        }
        PrefixStore prefixed = new PrefixStore(prefix, store.clone());
        ProcessGroupNCCL.Options opts = ProcessGroupNCCL.Options.create();
        ProcessGroupNCCL pg = new ProcessGroupNCCL(prefixed, rank, size, opts);
        prefixed.deallocate(false);
        pg.setTimeout(new Milliseconds(timeout.toMillis()));
        return new NcclCollectives(pg, rank, size, timeout);
    }

    private CollectiveWork wrap(String op, Supplier<Work> start) {
        Work w = start.get();
        return () -> {
            try (w) {
                w._wait(new Milliseconds(timeout.toMillis()));
            } catch (RuntimeException e) {
                throw new CollectiveException(op + " on rank " + rank + " of " + size + " failed: "
                        + e.getMessage(), e);
            }
        };
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public CollectiveWork allReduceSum(Tensor t) {
        return wrap("allreduce", () -> pg.allreduce(new TensorVector(t),
                new AllreduceOptions().reduceOp(new ReduceOp(ReduceOp.RedOpType.SUM))));
    }

    @Override
    public CollectiveWork allGather(Tensor out, Tensor in) {
        return wrap("allgather", () -> pg._allgather_base(out, in, new AllgatherOptions()));
    }

    @Override
    public CollectiveWork reduceScatterSum(Tensor out, Tensor in) {
        return wrap("reduce_scatter", () -> pg._reduce_scatter_base(out, in,
                new ReduceScatterOptions().reduceOp(new ReduceOp(ReduceOp.RedOpType.SUM))));
    }

    @Override
    public CollectiveWork broadcast(Tensor t, int root) {
        return wrap("broadcast", () -> pg.broadcast(new TensorVector(t), new BroadcastOptions().rootRank(root)));
    }

    @Override
    public void barrier() {
        wrap("barrier", () -> pg.barrier(new BarrierOptions().timeout(new Milliseconds(timeout.toMillis())))).await();
    }

    @Override
    public void close() {
        pg.close();
    }
}
