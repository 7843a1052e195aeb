package ai.axolotl.distributed.launch;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.distributed.Timeouts;
import ai.axolotl.distributed.WorldSpec;
import ai.axolotl.distributed.gloo.ProcessGroups;
import ai.axolotl.runtime.Natives;
import ai.axolotl.sharding.Strategies;
import ai.axolotl.train.RankLauncher;
import ai.axolotl.train.ShardingStrategy;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BiFunction;

/**
 * N ranks as threads of this JVM, each with its own real Gloo process group over one loopback TCP store: the fast
 * way to run and test a strategy without spawning processes. libtorch's intra-op threads are set to one per rank.
 */
public final class ThreadLauncher implements RankLauncher {
    private final int world;
    private final Duration timeout;
    private final BiFunction<AxolotlConfig, ProcessGroups, ShardingStrategy> strategies;

    /**
     * {@code world} ranks, strategies chosen from the config, timeout from the config's {@code ddp_timeout} or
     * else {@code AXOLOTL_NCCL_TIMEOUT} ({@link Timeouts#forRun}).
     */
    public ThreadLauncher(int world) {
        this(world, null, Strategies::create);
    }

    /**
     * @param world number of ranks
     * @param timeout bound on the rendezvous and every collective; null: {@link Timeouts#forRun} of the config
     * @param strategies builds each rank's strategy from the config and its process groups
     */
    public ThreadLauncher(int world, Duration timeout,
                          BiFunction<AxolotlConfig, ProcessGroups, ShardingStrategy> strategies) {
        if (world < 1) {
            throw new IllegalArgumentException("world size must be at least 1, got " + world);
        }
        this.world = world;
        this.timeout = timeout;
        this.strategies = strategies;
    }

    /** Runs a task on every rank with that rank's process groups (for tests of collectives and strategies). */
    public <T> List<T> run(GroupTask<T> task) {
        return run(timeout != null ? timeout : Timeouts.fromEnvironment(System.getenv()), task);
    }

    private <T> List<T> run(Duration timeout, GroupTask<T> task) {
        Natives.setThreads(1);
        int port = freePort();
        String runId = UUID.randomUUID().toString().substring(0, 8);
        ExecutorService pool = Executors.newFixedThreadPool(world, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                WorldSpec spec = new WorldSpec(r, world, r, world, "127.0.0.1", port);
                futures.add(pool.submit(() -> {
                    Thread.currentThread().setName("rank-" + spec.rank());
                    try (ProcessGroups groups = ProcessGroups.start(spec, timeout, runId)) {
                        try {
                            return task.run(groups);
                        } catch (RuntimeException e) { // the other ranks name it instead of waiting for it
                            groups.reportFailure(e.getMessage() != null ? e.getMessage() : e.toString());
                            throw e;
                        }
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            RuntimeException first = null;
            for (int r = 0; r < world; r++) {
                try {
                    out.add(futures.get(r).get());
                } catch (ExecutionException e) {
                    Throwable c = e.getCause();
                    RuntimeException re = c instanceof RuntimeException rt ? rt
                            : new CollectiveException("rank " + r + " failed: " + c, c);
                    if (first == null) {
                        first = re;
                    } else {
                        first.addSuppressed(re);
                    }
                    out.add(null);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CollectiveException("interrupted while waiting for rank " + r);
                }
            }
            if (first != null) {
                throw first;
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    /** What a rank runs with its process groups. */
    @FunctionalInterface
    public interface GroupTask<T> {
        /** Runs on one rank. */
        T run(ProcessGroups groups) throws Exception;
    }

    @Override
    public <T> List<T> launch(AxolotlConfig config, RankTask<T> task) {
        Duration t = timeout != null ? timeout : Timeouts.forRun(config.parallel(), System.getenv());
        return run(t, groups -> {
            try (ShardingStrategy s = strategies.apply(config, groups)) {
                return task.run(s);
            }
        });
    }

    /** A TCP port free at the time of the call. */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new CollectiveException("no free TCP port for the rendezvous: " + e.getMessage(), e);
        }
    }
}
