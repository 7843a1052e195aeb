package ai.axolotl.cli;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.distributed.Timeouts;
import ai.axolotl.distributed.WorldSpec;
import ai.axolotl.distributed.gloo.ProcessGroups;
import ai.axolotl.distributed.launch.LocalLauncher;
import ai.axolotl.distributed.launch.NodeTopology;
import ai.axolotl.distributed.launch.RankAllocator;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.sharding.Strategies;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.ShardingStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * {@code axolotl train CONFIG.yml [--key value ...]}: one process; or, with {@code --launcher}, ranks as threads
 * or as local JVMs; or, under torchrun's environment (RANK, WORLD_SIZE, ...), one rank of a distributed run.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train as the config says; any config key can be overridden with --key value.")
final class TrainCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger("axolotl");

    @Parameters(index = "0", paramLabel = "CONFIG.yml", description = "Axolotl-style YAML config")
    Path config;

    @Option(names = "--threads", description = "libtorch intra-op threads per rank (default: half the cores "
            + "divided among this node's ranks, at least 1)")
    int threads;

    @Option(names = "--launcher", description = "threads (ranks as threads of this JVM) or local (ranks as JVMs)")
    String launcher;

    @Option(names = "--nproc-per-node", defaultValue = "1", description = "ranks on this node")
    int nprocPerNode;

    @Option(names = "--num-nodes", defaultValue = "1", description = "nodes (the same command runs on each)")
    int numNodes;

    @Option(names = "--node-rank", defaultValue = "0", description = "this node's rank (0 serves the rendezvous)")
    int nodeRank;

    @Option(names = "--master-addr", defaultValue = "127.0.0.1", description = "address of node 0")
    String masterAddr;

    @Option(names = "--master-port", defaultValue = "0", description = "rendezvous port (default: free port "
            + "on one node, 29500 on several)")
    int masterPort;

    @Option(names = "--accelerate-config", paramLabel = "FILE", description = "Accelerate's static rendezvous "
            + "file (machine_rank, main_process_ip, main_process_port, num_machines, num_processes)")
    Path accelerateConfig;

    @Option(names = "--allocator", paramLabel = "auto|jemalloc|glibc", description = "C allocator of the rank JVMs "
            + "--launcher local starts (default auto: jemalloc when the system has it, which keeps what sharding "
            + "saves; glibc's malloc keeps freed tensor memory)")
    String allocator;

    @Unmatched
    List<String> overrides;

    /** How long a signalled run may take to finish its step and write its checkpoint before the JVM exits. */
    static final Duration STOP_GRACE = LocalLauncher.STOP_GRACE;

    @Override
    public Integer call() throws Exception {
        Map<String, String> o = ConfigOverrides.parse(overrides);
        ConfigLoader.Loaded loaded = ConfigLoader.load(config, o);
        loaded.warnings().forEach(w -> LOG.warn(w));
        AxolotlConfig c = loaded.config();
        NodeTopology topology = topology();
        if (topology != null) {
            return launchLocal(topology);
        }
        if (allocator != null) {
            LOG.warn("--allocator acts only on the rank JVMs --launcher local starts; this process runs with {} "
                    + "(preload jemalloc on its own command line to change it)", ProcessMemory.nativeAllocator());
        }
        if ("threads".equals(launcher)) {
            return report(trainThreads(c, nprocPerNode, threads > 0 ? threads : 1));
        }
        WorldSpec spec = WorldSpec.fromEnvironment(System.getenv());
        if (spec != null && spec.worldSize() > 1) {
            return runRank(c, spec);
        }
        if (Strategies.oneRankNeedsProcessGroups(c)) {
            // one rank of a sharded strategy (its checkpoints reshard to and from other world sizes), or one rank
            // resuming a sharded checkpoint
            return report(trainThreads(c, 1, threads > 0 ? threads : Threads.defaultCount()));
        }
        try (Trainer trainer = new Trainer(c, new SingleProcessStrategy(), List.of(),
                threads > 0 ? threads : Threads.defaultCount())) {
            return report(stoppingOnSignal(List.of(trainer), trainer::fit));
        }
    }

    /** {@code ranks} ranks as threads of this JVM, stopped together on a signal; rank 0's result. */
    private static TrainResult trainThreads(AxolotlConfig c, int ranks, int threadsPerRank) throws Exception {
        List<Trainer> trainers = new CopyOnWriteArrayList<>();
        List<TrainResult> results = stoppingOnSignal(trainers, () -> new ThreadLauncher(ranks).launch(c, s -> {
            try (Trainer t = new Trainer(c, s, List.of(), threadsPerRank)) {
                trainers.add(t);
                return t.fit();
            }
        }));
        return results.get(0);
    }

    /**
     * Runs {@code run} with a shutdown hook that, on SIGTERM or SIGINT (a scheduler's preemption, Ctrl-C), asks
     * every trainer to stop after its current step and holds the JVM's exit until they have written their
     * checkpoint and closed (at most {@link #STOP_GRACE}); the ranks agree on the step, so a sharded checkpoint
     * is complete. The exit status stays the signal's (143 or 130).
     */
    private static <T> T stoppingOnSignal(List<Trainer> trainers, Callable<T> run) throws Exception {
        Thread hook = new Thread(() -> {
            trainers.forEach(Trainer::stop);
            trainers.forEach(t -> t.stopAndWait(STOP_GRACE));
        }, "axolotl-stop-on-signal");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            return run.call();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down: the hook is what runs now
            }
        }
    }

    private NodeTopology topology() {
        if (accelerateConfig != null) {
            return NodeTopology.fromAccelerateConfig(accelerateConfig);
        }
        if (launcher != null && !launcher.equals("local") && !launcher.equals("threads")) {
            throw new IllegalArgumentException("--launcher must be threads or local, got '" + launcher + "'");
        }
        if (numNodes > 1 || "local".equals(launcher)) {
            int port = masterPort > 0 ? masterPort : numNodes > 1 ? 29500 : ThreadLauncher.freePort();
            return new NodeTopology(numNodes, nodeRank, nprocPerNode, masterAddr, port);
        }
        return null;
    }

    private int launchLocal(NodeTopology topology) throws Exception {
        RankAllocator memory = RankAllocator.resolve(allocator, System.getenv(), RankAllocator.SEARCH_PATH);
        List<String> args = new ArrayList<>(List.of("train", config.toString()));
        if (overrides != null) {
            args.addAll(overrides);
        }
        int perRank = threads > 0 ? threads
                : Math.max(1, Runtime.getRuntime().availableProcessors() / 2 / topology.procsPerNode());
        args.addAll(List.of("--threads", Integer.toString(perRank)));
        LOG.info("launching {} rank(s) on node {} of {} (world {}), rendezvous {}:{}", topology.procsPerNode(),
                topology.nodeRank(), topology.numNodes(), topology.worldSize(), topology.masterAddr(),
                topology.masterPort());
        LOG.info("rank JVMs' C allocator: {}", memory.describe());
        // each rank JVM applies the NCCL environment to itself before its first NCCL group (NcclEnvironment)
        return new LocalLauncher(topology, args, System.out, memory.environment()).run(AxolotlCli.class.getName());
    }

    private int runRank(AxolotlConfig c, WorldSpec spec) throws Exception {
        int n = threads > 0 ? threads
                : Math.max(1, Runtime.getRuntime().availableProcessors() / 2 / spec.localWorldSize());
        String runId = System.getenv().getOrDefault("AXOLOTL_RUN_ID", "run");
        // a rank of --launcher local leaves (checkpoint first, as on SIGTERM) when its launcher is gone
        ai.axolotl.distributed.launch.LauncherWatch.exitWhenGone(System.getenv(
                ai.axolotl.distributed.launch.LauncherWatch.ENV), spec.rank());
        try (ProcessGroups groups = ProcessGroups.start(spec, Timeouts.forRun(c.parallel(), System.getenv()), runId)) {
            try (ShardingStrategy s = Strategies.create(c, groups);
                 Trainer trainer = new Trainer(c, s, List.of(), n)) {
                TrainResult r = stoppingOnSignal(List.of(trainer), trainer::fit);
                return spec.rank() == 0 ? report(r) : 0;
            } catch (RuntimeException e) { // the other ranks name it instead of waiting for it
                groups.reportFailure(e.getMessage() != null ? e.getMessage() : e.toString());
                throw e;
            }
        } catch (CollectiveException e) {
            AxolotlCli.abortRank(spec.rank(), e);
            return AxolotlCli.EXIT_FAILURE;
        }
    }

    private static int report(TrainResult r) {
        LOG.info("done: {} steps, final loss {}, model in {}", r.steps(), String.format("%.4f", r.finalLoss()),
                r.outputDir());
        return r.stoppedEarly() ? AxolotlCli.EXIT_FAILURE : 0;
    }
}
