package ai.axolotl.distributed;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllgatherOptions;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.Backend;
import org.bytedeco.pytorch.BarrierOptions;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.ReduceOp;
import org.bytedeco.pytorch.ReduceScatterOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Work;

import java.time.Duration;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * {@link Collectives} over any c10d {@code Backend} (Gloo, NCCL): every operation started asynchronously and
 * awaited with the timeout; a failure becomes a {@link CollectiveException} from {@link #failure}, which each
 * backend words (naming the ranks at fault where it can).
 */
public abstract class BackendCollectives implements Collectives {
    private final Backend backend;
    private final int rank;
    private final int size;
    private final Duration timeout;
    private volatile boolean failed;

    /**
     * @param backend the c10d process group (owned; closed with this object)
     * @param rank this rank in the group
     * @param size ranks in the group
     * @param timeout bound on every wait
     */
    protected BackendCollectives(Backend backend, int rank, int size, Duration timeout) {
        this.backend = backend;
        this.rank = rank;
        this.size = size;
        this.timeout = timeout;
    }

    /** The timeout of every wait. */
    protected Duration timeout() {
        return timeout;
    }

    /** The exception for a failed or timed-out operation. */
    protected abstract CollectiveException failure(String op, RuntimeException cause);

    /** The first line of a native error message, trimmed ("" for none): c10d appends its C++ stack below it. */
    protected static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("").trim();
    }

    /** {@code "; " + diagnosis} when the diagnosis (ranks at fault) has something to say, else "". */
    protected static String diagnosisSuffix(Supplier<String> diagnosis) {
        if (diagnosis == null) {
            return "";
        }
        String d = diagnosis.get();
        return d == null || d.isEmpty() ? "" : "; " + d;
    }

    /**
     * Whether an operation on this group has failed or timed out. After that the group's connections are in an
     * unknown state (peers may be gone or blocked in the operation that failed): a closing barrier is pointless.
     */
    public boolean failed() {
        return failed;
    }

    private CollectiveException failed(String op, RuntimeException e) {
        failed = true;
        return failure(op, e);
    }

    private CollectiveWork start(String op, Supplier<Work> launch) {
        Work w;
        try {
            w = Tensors.unscoped(launch.get()); // closed by await, even when awaited after the maker's scope
        } catch (RuntimeException e) {
            throw failed(op, e);
        }
        return () -> {
            try (w) {
                w._wait(new Milliseconds(timeout.toMillis()));
            } catch (RuntimeException e) {
                throw failed(op, e);
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
        // the vector holds a reference to the tensor: closed at once (c10d keeps its own copy of the list), or
        // it would keep the tensor's memory alive until the garbage collector ran its deallocator
        return start("allreduce", () -> {
            try (TensorVector v = new TensorVector(t); AllreduceOptions o = new AllreduceOptions()) {
                return backend.allreduce(v, o.reduceOp(new ReduceOp(ReduceOp.RedOpType.SUM)));
            }
        });
    }

    @Override
    public CollectiveWork allGather(Tensor out, Tensor in) {
        return start("allgather", () -> backend._allgather_base(out, in, new AllgatherOptions()));
    }

    @Override
    public CollectiveWork reduceScatterSum(Tensor out, Tensor in) {
        return start("reduce_scatter", () -> backend._reduce_scatter_base(out, in,
                new ReduceScatterOptions().reduceOp(new ReduceOp(ReduceOp.RedOpType.SUM))));
    }

    @Override
    public CollectiveWork broadcast(Tensor t, int root) {
        return start("broadcast", () -> {
            try (TensorVector v = new TensorVector(t); BroadcastOptions o = new BroadcastOptions()) {
                return backend.broadcast(v, o.rootRank(root));
            }
        });
    }

    @Override
    public CollectiveWork allToAll(Tensor out, Tensor in) {
        if (in.size(0) % size != 0 || !Arrays.equals(in.shape(), out.shape())) {
            throw new IllegalArgumentException("all-to-all needs equal shapes with dimension 0 divisible by " + size);
        }
        return start("alltoall", () -> {
            try (LongVector even = new LongVector(); LongVector even2 = new LongVector()) {
                return backend.alltoall_base(out, in, even, even2); // empty split lists: equal blocks
            }
        });
    }

    @Override
    public CollectiveWork send(Tensor t, int peer) {
        return start("send to " + peer, () -> {
            try (TensorVector v = new TensorVector(t)) {
                return backend.send(v, peer, 0);
            }
        });
    }

    @Override
    public CollectiveWork recv(Tensor t, int peer) {
        return start("recv from " + peer, () -> {
            try (TensorVector v = new TensorVector(t)) {
                return backend.recv(v, peer, 0);
            }
        });
    }

    @Override
    public void barrier() {
        start("barrier", () -> backend.barrier(new BarrierOptions().timeout(new Milliseconds(timeout.toMillis()))))
                .await();
    }

    /**
     * A barrier for shutting down: waits at most the timeout for the other ranks and reports whether they all
     * arrived, without raising or diagnosing (a rank leaving after a failure elsewhere is not a new fault).
     */
    public boolean barrierBeforeClose() {
        if (failed) {
            return false;
        }
        Milliseconds bound = new Milliseconds(timeout.toMillis());
        try (Work w = Tensors.unscoped(backend.barrier(new BarrierOptions().timeout(bound)))) {
            w._wait(bound);
            return true;
        } catch (RuntimeException e) {
            failed = true;
            return false;
        }
    }

    @Override
    public void close() {
        backend.close();
    }
}
