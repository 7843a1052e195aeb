package ai.axolotl.distributed;

import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
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
    private final boolean server;
    private volatile boolean failed;
    private volatile boolean failureGrace = true;
    private static final long POLL_MS = 20;
    private static final int PROBE_MS = 1000;
    /** How long a failed rank serving the store keeps it up for the others to read its failure. */
    private static final Duration FAILURE_GRACE = Duration.ofSeconds(3);

    private Rendezvous(WorldSpec world, TCPStore store, Duration timeout, String runId, boolean server) {
        this.world = world;
        this.store = store;
        this.timeout = timeout;
        this.runId = runId;
        this.server = server;
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
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!server) {
            awaitListening(world, timeout, deadline);
        }
        TCPStoreOptions opts = new TCPStoreOptions();
        opts.port((short) world.masterPort());
        opts.isServer(server);
        opts.waitWorkers(false);
        // what is left of the timeout (at least a second): the store's client retries with its own backoff
        // past any bound it is given, so only the connection to a port known to listen is left to it
        long leftMs = Math.max(1000, (deadline - System.nanoTime()) / 1_000_000);
        opts.timeout(new Milliseconds(server ? timeout.toMillis() : leftMs));
        opts.useLibUV(true);
        TCPStore store;
        try {
            store = new TCPStore(world.masterAddr(), opts);
        } catch (RuntimeException e) {
            throw new CollectiveException("rank " + world.rank() + ": cannot " + (server ? "serve" : "reach")
                    + " the rendezvous store at " + world.masterAddr() + ":" + world.masterPort() + " within "
                    + timeout.toSeconds() + " s: " + firstLine(e.getMessage()), e);
        }
        Rendezvous r = new Rendezvous(world, store, timeout, runId, server);
        r.arrive();
        return r;
    }

    /**
     * Waits until the master's store port accepts connections, trying each {@value #PROBE_MS} ms, and fails at
     * the deadline naming the address. c10d's client would retry on its own with a backoff that ends well past
     * its timeout (measured: 17 s for 10 s) and print C++ frames for each try.
     */
    private static void awaitListening(WorldSpec world, Duration timeout, long deadline) {
        InetSocketAddress master = new InetSocketAddress(world.masterAddr(), world.masterPort());
        String last = "";
        while (true) {
            try (Socket probe = new Socket()) {
                int left = (int) Math.max(1, Math.min(PROBE_MS, (deadline - System.nanoTime()) / 1_000_000));
                probe.connect(master, left);
                return;
            } catch (IOException e) {
                last = e.getMessage();
            }
            if (System.nanoTime() >= deadline) {
                throw new CollectiveException("rank " + world.rank() + ": cannot reach the rendezvous store at "
                        + world.masterAddr() + ":" + world.masterPort() + " within " + timeout.toSeconds()
                        + " s (" + (master.isUnresolved() ? "the address does not resolve" : last) + "); is rank 0 "
                        + "running, and are MASTER_ADDR and MASTER_PORT the ones it serves?");
            }
            sleep(Math.min(200, Math.max(1, (deadline - System.nanoTime()) / 1_000_000)));
        }
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

    /**
     * Waits for a key (up to the timeout) and returns it; the error names the rank that did not publish it. When
     * that rank reported a failure instead ({@link #publishFailure}), fails at once with its message.
     */
    public String await(String k, int ownerRank, String what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (StringVector keys = new StringVector(key(k));
             StringVector failure = new StringVector(key("failed/" + ownerRank))) {
            while (!store.check(keys)) {
                if (store.check(failure)) {
                    String message = store.get_to_str(key("failed/" + ownerRank));
                    noticedFailure(store);
                    throw new CollectiveException("rank " + ownerRank + " failed: " + message);
                }
                if (System.nanoTime() > deadline) {
                    throw new CollectiveException("rank " + world.rank() + " timed out after " + timeout.toSeconds()
                            + " s waiting for rank " + ownerRank + " to publish " + what);
                }
                sleep(POLL_MS);
            }
            return store.get_to_str(key(k));
        } catch (CollectiveException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new CollectiveException("rank " + world.rank() + " lost the rendezvous store while waiting for rank "
                    + ownerRank + " to publish " + what + (world.rank() == 0 ? "" : " (rank 0, which serves it, is gone)")
                    + ": " + firstLine(e.getMessage()), e);
        }
    }

    /**
     * Every rank says it reached {@code point} and waits for all others; a rank that reported a failure first
     * ({@link #publishFailure}) fails every waiting rank at once with its message, and a rank that never arrives
     * fails them after the timeout, named.
     */
    public void agree(String point) {
        set("agree/" + point + "/" + world.rank(), "ok");
        for (int r = 0; r < world.worldSize(); r++) {
            if (r != world.rank()) {
                await("agree/" + point + "/" + r, r, "that it reached '" + point + "'");
            }
        }
    }

    /**
     * Tells the other ranks that this rank failed and why: those waiting for it in {@link #await} or
     * {@link #agree} fail at once with the message, and the peer monitor names it. Best effort: false when the
     * store does not answer.
     */
    public boolean publishFailure(String message) {
        try {
            store.set(key("failed/" + world.rank()), message == null ? "(no message)" : message);
            failed = true;
            return true;
        } catch (RuntimeException e) {
            LOG.debug("rank {} could not publish its failure", world.rank(), e);
            return false;
        }
    }

    /** The failure rank {@code r} reported, or null (also when the store does not answer). */
    public String failureOf(int r, Store client) {
        try {
            return client.check(new StringVector(key("failed/" + r))) ? client.get_to_str(key("failed/" + r)) : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** Records that this rank has read another rank's failure (so the store's owner may stop serving it). */
    public void noticedFailure(Store client) {
        try {
            client.add(key("failure-noticed"), 1);
        } catch (RuntimeException e) {
            LOG.debug("rank {} could not acknowledge a failure", world.rank(), e);
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

    /**
     * Closes without keeping the store up for the others to read this rank's failure: for a failure that a broken
     * collective caused (the others are gone or see the same break), where waiting would only delay the exit.
     */
    public void skipFailureGrace() {
        failureGrace = false;
    }

    @Override
    public void close() {
        if (failed && server && failureGrace) {
            // the failure this rank published lives in its store: keep serving it until the others have read it
            // (they learn of it when they next wait on the store or when their collective breaks), briefly
            long deadline = System.nanoTime() + FAILURE_GRACE.toNanos();
            try {
                while (store.add(key("failure-noticed"), 0) < world.worldSize() - 1 && System.nanoTime() < deadline) {
                    sleep(POLL_MS);
                }
            } catch (RuntimeException e) {
                LOG.debug("rank {}: store error while waiting for peers to read its failure", world.rank(), e);
            }
        }
        store.close();
    }
}
