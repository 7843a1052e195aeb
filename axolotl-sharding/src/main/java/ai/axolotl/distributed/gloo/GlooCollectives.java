package ai.axolotl.distributed.gloo;

import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllgatherOptions;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.BarrierOptions;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.GlooDeviceVector;
import org.bytedeco.pytorch.PrefixStore;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.ReduceOp;
import org.bytedeco.pytorch.ReduceScatterOptions;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Work;

import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * {@link Collectives} over c10d's {@code ProcessGroupGloo} (CPU). Every operation is bounded by the timeout;
 * a failure or timeout raises a {@link CollectiveException} naming the operation and, through the
 * {@link PeerMonitor}, the ranks that are gone or behind.
 */
public final class GlooCollectives implements Collectives {
    private final ProcessGroupGloo pg;
    private final int rank;
    private final int size;
    private final Duration timeout;
    private final Supplier<String> diagnosis;
    private final String name;

    private GlooCollectives(ProcessGroupGloo pg, int rank, int size, Duration timeout, Supplier<String> diagnosis,
                            String name) {
        this.pg = pg;
        this.rank = rank;
        this.size = size;
        this.timeout = timeout;
        this.diagnosis = diagnosis;
        this.name = name;
    }

    /**
     * Creates a process group over {@code store} (keys under {@code prefix}). Must be called by all
     * {@code size} members with distinct ranks.
     *
     * @param host the address other ranks reach this one at
     * @param diagnosis names ranks at fault when an operation fails (may return "")
     */
    public static GlooCollectives create(Store store, String prefix, int rank, int size, Duration timeout,
                                         String host, Supplier<String> diagnosis) {
        try {
            ProcessGroupGloo.Options opts = ProcessGroupGloo.Options.create(new Milliseconds(timeout.toMillis()));
            String iface = System.getenv("GLOO_SOCKET_IFNAME");
            opts.devices(new GlooDeviceVector(iface != null && !iface.isBlank()
                    ? ProcessGroupGloo.createDeviceForInterface(iface)
                    : ProcessGroupGloo.createDeviceForHostname(host)));
            // Ownership: c10d takes over a store object Java created as soon as it is passed where c10d holds a
            // reference (an intrusive_ptr), and frees it when the last holder goes; Java freeing it too (on close
            // or when the collector runs) is a double free, seen as random aborts. So the group gets its own
            // client connection (a clone, created and counted by c10d), and the PrefixStore Java creates is
            // handed over to the group and never freed from Java.
            PrefixStore prefixed = new PrefixStore(prefix, store.clone());
            ProcessGroupGloo pg = new ProcessGroupGloo(prefixed, rank, size, opts);
            prefixed.deallocate(false);
            return new GlooCollectives(pg, rank, size, timeout, diagnosis, prefix);
        } catch (RuntimeException e) {
            throw new CollectiveException("rank " + rank + ": cannot connect the Gloo group '" + prefix + "' of "
                    + size + " ranks within " + timeout.toSeconds() + " s: " + firstLine(e.getMessage())
                    + suffix(diagnosis), e);
        }
    }

    /** The local address that routes to {@code master} (what other nodes can reach this one at). */
    public static String localAddressFor(String master, int port) {
        try {
            InetAddress m = InetAddress.getByName(master);
            if (m.isLoopbackAddress()) {
                return "127.0.0.1";
            }
            try (DatagramSocket s = new DatagramSocket()) {
                s.connect(new InetSocketAddress(m, port));
                return s.getLocalAddress().getHostAddress();
            }
        } catch (Exception e) {
            return "127.0.0.1";
        }
    }

    static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("").trim();
    }

    private static String suffix(Supplier<String> diagnosis) {
        if (diagnosis == null) {
            return "";
        }
        String d = diagnosis.get();
        return d == null || d.isEmpty() ? "" : "; " + d;
    }

    private CollectiveWork wrap(String op, Supplier<Work> start) {
        Work w;
        try {
            w = start.get();
        } catch (RuntimeException e) {
            throw failure(op, e);
        }
        return () -> {
            try (w) {
                w._wait(new Milliseconds(timeout.toMillis()));
            } catch (RuntimeException e) {
                throw failure(op, e);
            }
        };
    }

    private CollectiveException failure(String op, RuntimeException e) {
        String msg = firstLine(e.getMessage()).replaceAll("\\[/[^\\]]*\\] ", "");
        boolean timedOut = msg.toLowerCase().contains("timed out") || msg.toLowerCase().contains("timeout");
        if (!timedOut) {
            // a broken connection means a peer is gone: give its heartbeat time to go stale so it is named as dead
            sleepQuietly(PeerMonitor.STALE_MS + 1000);
        }
        String kind = timedOut ? "timed out after " + timeout.toSeconds() + " s" : "failed (" + msg + ")";
        return new CollectiveException(op + " on rank " + rank + " of " + size + " " + kind + suffix(diagnosis), e);
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
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
        wrap("barrier", () -> pg.barrier(new BarrierOptions().timeout(new Milliseconds(timeout.toMillis()))))
                .await();
    }

    @Override
    public String toString() {
        return "gloo[" + name + " rank " + rank + "/" + size + "]";
    }

    @Override
    public void close() {
        pg.close();
    }
}
