package ai.axolotl.distributed.gloo;

import ai.axolotl.distributed.BackendCollectives;
import ai.axolotl.distributed.CollectiveException;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.GlooDeviceVector;
import org.bytedeco.pytorch.PrefixStore;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.Store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * {@link Collectives} over c10d's {@code ProcessGroupGloo} (CPU). Every operation is bounded by the timeout;
 * a failure or timeout raises a {@link CollectiveException} naming the operation and, through the
 * {@link PeerMonitor}, the ranks that are gone or behind.
 */
public final class GlooCollectives extends BackendCollectives {
    private final Supplier<String> diagnosis;
    private final String name;

    private GlooCollectives(ProcessGroupGloo pg, int rank, int size, Duration timeout, Supplier<String> diagnosis,
                            String name) {
        super(pg, rank, size, timeout);
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
                    + diagnosisSuffix(diagnosis), e);
        }
    }

    /** The local address that routes to {@code master} (what other nodes can reach this one at). */
    public static String localAddressFor(String master, int port) {
        InetAddress m;
        try {
            m = InetAddress.getByName(master);
        } catch (UnknownHostException e) {
            throw new CollectiveException("MASTER_ADDR '" + master + "' cannot be resolved to an address from this "
                    + "machine; give node 0's IP address or a name this node resolves");
        }
        if (m.isLoopbackAddress()) {
            return "127.0.0.1";
        }
        try (DatagramSocket s = new DatagramSocket()) {
            s.connect(new InetSocketAddress(m, port));
            return s.getLocalAddress().getHostAddress();
        } catch (IOException | UncheckedIOException e) {
            throw new CollectiveException("no network route from this machine to MASTER_ADDR " + master + " ("
                    + m.getHostAddress() + "): " + e.getMessage());
        }
    }

    @Override
    protected CollectiveException failure(String op, RuntimeException e) {
        String msg = firstLine(e.getMessage()).replaceAll("\\[/[^\\]]*\\] ", "");
        boolean timedOut = msg.toLowerCase().contains("timed out") || msg.toLowerCase().contains("timeout");
        String reported = diagnosis == null ? "" : diagnosis.get();
        if (!timedOut && PeerMonitor.namesReportedFailure(reported)) {
            // the peer said why it left: that is the error, the broken connection only its echo
            return new CollectiveException(op + " on rank " + rank() + " of " + size() + " stopped: " + reported, e);
        }
        String cause = diagnosisSuffix(diagnosis);
        if (!timedOut) {
            // a broken connection means a peer is gone: give its heartbeat time to go stale so it is named as dead
            sleepQuietly(PeerMonitor.STALE_MS + 1000);
            cause = diagnosisSuffix(diagnosis);
        }
        String kind = timedOut ? "timed out after " + timeout().toSeconds() + " s" : "failed (" + msg + ")";
        return new CollectiveException(op + " on rank " + rank() + " of " + size() + " " + kind + cause, e);
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "gloo[" + name + " rank " + rank() + "/" + size() + "]";
    }
}
