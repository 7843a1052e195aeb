package ai.axolotl.distributed.gloo;

import ai.axolotl.distributed.Rendezvous;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.StringVector;

import java.util.ArrayList;
import java.util.List;

/**
 * Names the ranks at fault when a collective fails: every rank writes a heartbeat to the rendezvous store each
 * second from a daemon thread, and its progress (optimizer steps) when it starts a step. A rank that reported a
 * failure ({@link ai.axolotl.distributed.Rendezvous#publishFailure}) is named with its message; a rank whose
 * heartbeat stopped is gone; a rank whose progress lags is hung or slow.
 */
public final class PeerMonitor implements AutoCloseable {
    private static final long BEAT_MS = 1000;
    /** How long store errors may last before the heartbeat stops (the store is then taken to be gone). */
    private static final long STORE_GRACE_MS = 10_000;
    static final long STALE_MS = 4000;
    private final Rendezvous rendezvous;
    private final Store beatStore;
    private final Thread beater;
    private volatile boolean running = true;
    private volatile long progress;

    /** Starts heartbeating for this rank. */
    public PeerMonitor(Rendezvous rendezvous) {
        this.rendezvous = rendezvous;
        this.beatStore = rendezvous.store().clone();
        String prefix = "axolotl/" + rendezvous.runId() + "/";
        int rank = rendezvous.world().rank();
        this.beater = new Thread(() -> {
            long failingSince = 0;
            while (running) {
                try {
                    beatStore.set(prefix + "hb/" + rank, Long.toString(System.currentTimeMillis()));
                    beatStore.set(prefix + "progress/" + rank, Long.toString(progress));
                    failingSince = 0;
                } catch (RuntimeException e) {
                    // a transient store error must not silence this rank for good; only a store gone for longer
                    // than the grace period (rank 0 exited) ends the heartbeat, and diagnose() reports that
                    long now = System.currentTimeMillis();
                    failingSince = failingSince == 0 ? now : failingSince;
                    if (now - failingSince > STORE_GRACE_MS) {
                        return;
                    }
                }
                try {
                    Thread.sleep(BEAT_MS);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "axolotl-heartbeat-" + rank);
        beater.setDaemon(true);
        beater.start();
    }

    /** True when {@code diagnosis} (of {@link #diagnose}) starts with a failure a rank reported itself. */
    static boolean namesReportedFailure(String diagnosis) {
        return diagnosis.matches("(?s)rank \\d+ failed: .*");
    }

    /** Records that this rank reached optimizer step {@code step}. */
    public void progress(long step) {
        this.progress = step;
    }

    /**
     * Which ranks failed (with their messages), look dead or are behind, in words; empty when all look healthy.
     * Reported failures come first, each as {@code rank N failed: message}.
     */
    public String diagnose() {
        String prefix = "axolotl/" + rendezvous.runId() + "/";
        int world = rendezvous.world().worldSize();
        int me = rendezvous.world().rank();
        List<String> failed = new ArrayList<>();
        List<String> dead = new ArrayList<>();
        List<String> behind = new ArrayList<>();
        long now = System.currentTimeMillis();
        long[] prog = new long[world];
        long max = -1;
        try (Store s = rendezvous.store().clone()) {
            for (int r = 0; r < world; r++) {
                if (r == me) {
                    prog[r] = progress;
                    max = Math.max(max, progress);
                    continue;
                }
                String failure = rendezvous.failureOf(r, s);
                if (failure != null) {
                    failed.add("rank " + r + " failed: " + failure);
                    prog[r] = -1;
                    continue;
                }
                String hb = s.check(new StringVector(prefix + "hb/" + r)) ? s.get_to_str(prefix + "hb/" + r) : null;
                if (hb == null || now - Long.parseLong(hb) > STALE_MS) {
                    dead.add(hb == null ? "rank " + r + " (never reported)" : "rank " + r + " (silent for "
                            + (now - Long.parseLong(hb)) / 1000 + " s)");
                    prog[r] = -1;
                    continue;
                }
                prog[r] = Long.parseLong(s.get_to_str(prefix + "progress/" + r));
                max = Math.max(max, prog[r]);
            }
            if (!failed.isEmpty()) {
                rendezvous.noticedFailure(s); // the failed rank, if it serves the store, may now stop serving
            }
        } catch (RuntimeException e) {
            return me == 0 ? "the rendezvous store is unavailable"
                    : "rank 0 is gone (its rendezvous store does not answer)";
        }
        for (int r = 0; r < world; r++) {
            if (prog[r] >= 0 && prog[r] < max) {
                behind.add("rank " + r + " (at step " + prog[r] + ", others at " + max + ")");
            }
        }
        StringBuilder b = new StringBuilder();
        if (!failed.isEmpty()) {
            b.append(String.join("; ", failed));
        }
        if (!dead.isEmpty()) {
            if (b.length() > 0) {
                b.append("; ");
            }
            b.append("dead or unreachable: ").append(String.join(", ", dead));
        }
        if (!behind.isEmpty()) {
            if (b.length() > 0) {
                b.append("; ");
            }
            b.append("hung or behind: ").append(String.join(", ", behind));
        }
        return b.toString();
    }

    @Override
    public void close() {
        running = false;
        beater.interrupt();
        try {
            beater.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        beatStore.close();
    }
}
