package ai.axolotl.distributed;

import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Brings the ranks together over a c10d {@code TCPStore} served by rank 0 (when rank 0 runs on the master
 * address's host). Every rank claims its rank number and announces its host; when all have arrived, a rank
 * claimed twice (two nodes with the same node rank) fails every rank naming it, and a rank missing when the
 * timeout expires is named too.
 */
public final class Rendezvous implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Rendezvous.class);
    private final WorldSpec world;
    private final TCPStore store;
    private final Duration timeout;
    private final String runId;

    private Rendezvous(WorldSpec world, TCPStore store, Duration timeout, String runId) {
        this.world = world;
        this.store = store;
        this.timeout = timeout;
        this.runId = runId;
    }

    /**
     * Joins the rendezvous. {@code runId} separates runs sharing one store (the thread launcher uses one store
     * per run, so it may be empty).
     */
    public static Rendezvous join(WorldSpec world, Duration timeout, String runId) {
        return join(world, timeout, runId, world.rank() == 0 && isLocalAddress(world.masterAddr()));
    }

    /** As {@link #join(WorldSpec, Duration, String)}, saying whether this process serves the store. */
    public static Rendezvous join(WorldSpec world, Duration timeout, String runId, boolean server) {
        TCPStoreOptions opts = new TCPStoreOptions();
        opts.port((short) world.masterPort());
        opts.isServer(server);
        opts.waitWorkers(false);
        opts.timeout(new Milliseconds(timeout.toMillis()));
        opts.useLibUV(true);
        TCPStore store;
        try {
            store = new TCPStore(world.masterAddr(), opts);
        } catch (RuntimeException e) {
            throw new CollectiveException("rank " + world.rank() + ": cannot " + (server ? "serve" : "reach")
                    + " the rendezvous store at " + world.masterAddr() + ":" + world.masterPort() + " within "
                    + timeout.toSeconds() + " s: " + firstLine(e.getMessage()), e);
        }
        Rendezvous r = new Rendezvous(world, store, timeout, runId);
        r.arrive();
        return r;
    }

    static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    private String key(String k) {
        return "axolotl/" + runId + "/" + k;
    }

    private void arrive() {
        String host = hostName();
        long claims = store.add(key("claim/" + world.rank()), 1);
        store.set(key("host/" + world.rank() + "/" + claims), host + " (node " + world.nodeRank() + ")");
        store.set(key("world/" + world.rank() + "/" + claims), world.worldSize() + " ranks = " + world.numNodes()
                + " nodes x " + world.localWorldSize());
        store.add(key("arrived"), 1);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (store.add(key("arrived"), 0) < world.worldSize()) {
            if (System.nanoTime() > deadline) {
                List<Integer> missing = new ArrayList<>();
                for (int r = 0; r < world.worldSize(); r++) {
                    if (store.add(key("claim/" + r), 0) == 0) {
                        missing.add(r);
                    }
                }
                throw new CollectiveException("rendezvous timed out after " + timeout.toSeconds() + " s on rank "
                        + world.rank() + ": rank(s) " + missing + " never joined");
            }
            sleep(20);
        }
        String mine = world.worldSize() + " ranks = " + world.numNodes() + " nodes x " + world.localWorldSize();
        for (int r = 0; r < world.worldSize(); r++) {
            long n = store.add(key("claim/" + r), 0);
            if (n >= 1) {
                String theirs = store.get_to_str(key("world/" + r + "/1"));
                if (!theirs.equals(mine)) {
                    throw new CollectiveException("rendezvous: rank " + r + " sees the world as " + theirs
                            + " but rank " + world.rank() + " as " + mine + "; every node must be started with the"
                            + " same --num-nodes and --nproc-per-node");
                }
            }
            if (n > 1) {
                List<String> hosts = new ArrayList<>();
                for (int i = 1; i <= n; i++) {
                    hosts.add(store.get_to_str(key("host/" + r + "/" + i)));
                }
                throw new CollectiveException("rendezvous: rank " + r + " was claimed by " + n + " processes on "
                        + hosts + "; two nodes use the same node rank (--node-rank / machine_rank)");
            }
        }
        LOG.debug("rank {} of {} joined the rendezvous at {}:{}", world.rank(), world.worldSize(),
                world.masterAddr(), world.masterPort());
    }

    /** The underlying store, for process groups and preflight. */
    public Store store() {
        return store;
    }

    /** The world. */
    public WorldSpec world() {
        return world;
    }

    /** The timeout of every wait. */
    public Duration timeout() {
        return timeout;
    }

    /** Prefix for this run's keys. */
    public String runId() {
        return runId;
    }

    /** Sets a key. */
    public void set(String k, String value) {
        store.set(key(k), value);
    }

    /** Waits for a key (up to the timeout) and returns it; the error names the rank that did not publish it. */
    public String await(String k, int ownerRank, String what) {
        try {
            StringVector keys = new StringVector(key(k));
            store._wait(keys, new Milliseconds(timeout.toMillis()));
            return store.get_to_str(key(k));
        } catch (RuntimeException e) {
            throw new CollectiveException("rank " + world.rank() + " timed out after " + timeout.toSeconds()
                    + " s waiting for rank " + ownerRank + " to publish " + what, e);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CollectiveException("interrupted while waiting for the rendezvous");
        }
    }

    /** The host name, for messages. */
    static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "unknown-host";
        }
    }

    /** True when {@code host} resolves to an address of this machine (or loopback). */
    public static boolean isLocalAddress(String host) {
        try {
            InetAddress a = InetAddress.getByName(host);
            return a.isLoopbackAddress() || a.isAnyLocalAddress() || NetworkInterface.getByInetAddress(a) != null;
        } catch (Exception e) {
            return false;
        }
    }

    @Override
    public void close() {
        store.close();
    }
}
