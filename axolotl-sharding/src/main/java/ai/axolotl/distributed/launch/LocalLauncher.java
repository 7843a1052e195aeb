package ai.axolotl.distributed.launch;

import ai.axolotl.runtime.Natives;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Spawns this node's ranks as JVMs with the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK,
 * LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), prefixes their output with the rank, forwards SIGINT/SIGTERM
 * (then waits up to {@link #STOP_GRACE} while the ranks finish their step and write their checkpoint), and if one
 * rank fails stops the others and returns its exit status. The natives are extracted here, once, before any rank
 * starts (two JVMs extracting at once has crashed the loader).
 */
public final class LocalLauncher {
    private static final Logger LOG = LoggerFactory.getLogger(LocalLauncher.class);
    private final NodeTopology topology;
    private final List<String> rankArgs;
    private final PrintStream out;
    private final Map<String, String> extraEnv;
    /** How long ranks signalled to stop may take to finish their step and checkpoint before they are killed. */
    public static final Duration STOP_GRACE = Duration.ofMinutes(10);

    /**
     * @param topology nodes and this node's place
     * @param rankArgs arguments of the main class for each rank (e.g. {@code train CONFIG.yml --key value})
     * @param out where prefixed rank output goes
     * @param extraEnv variables added to every rank's environment (e.g. NCCL settings)
     */
    public LocalLauncher(NodeTopology topology, List<String> rankArgs, PrintStream out, Map<String, String> extraEnv) {
        this.topology = topology;
        this.rankArgs = List.copyOf(rankArgs);
        this.out = out;
        this.extraEnv = Map.copyOf(extraEnv);
    }

    /** Starts the ranks and waits; returns 0 when all succeed, else the first failing rank's status. */
    public int run(String mainClass) throws IOException, InterruptedException {
        Natives.load();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // the same on every node (each node runs its own launcher); the store is fresh for each run anyway
        String runId = System.getenv().getOrDefault("AXOLOTL_RUN_ID", "run");
        List<Process> procs = new ArrayList<>();
        List<Thread> pumps = new ArrayList<>();
        // SIGTERM/SIGINT: pass it on and wait while the ranks finish their step and write their checkpoint
        Thread hook = new Thread(() -> {
            try {
                stop(procs, STOP_GRACE);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "axolotl-launcher-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            for (int local = 0; local < topology.procsPerNode(); local++) {
                int rank = topology.nodeRank() * topology.procsPerNode() + local;
                List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
                        mainClass));
                cmd.addAll(rankArgs);
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
                Map<String, String> env = pb.environment();
                env.putAll(extraEnv);
                env.put("RANK", Integer.toString(rank));
                env.put("WORLD_SIZE", Integer.toString(topology.worldSize()));
                env.put("LOCAL_RANK", Integer.toString(local));
                env.put("LOCAL_WORLD_SIZE", Integer.toString(topology.procsPerNode()));
                env.put("MASTER_ADDR", topology.masterAddr());
                env.put("MASTER_PORT", Integer.toString(topology.masterPort()));
                env.put("AXOLOTL_RUN_ID", runId);
                env.put(LauncherWatch.ENV, Long.toString(ProcessHandle.current().pid()));
                Process p = pb.start();
                procs.add(p);
                Thread pump = new Thread(() -> prefix(p, rank), "rank-" + rank + "-output");
                pump.start();
                pumps.add(pump);
            }
            int status = waitAll(procs);
            for (Thread t : pumps) {
                t.join(5000);
            }
            return status;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // shutting down already
            }
        }
    }

    private void prefix(Process p, int rank) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                synchronized (out) {
                    out.println("[rank " + rank + "] " + line);
                }
            }
        } catch (IOException e) {
            // the process ended
        }
    }

    /**
     * Sends SIGTERM to every process, then kills those still running after {@code grace}. The handle's destroy
     * only signals; {@code Process.destroy} also closes the pipes, and the ranks' last lines (the step they stopped
     * at, the checkpoint) would be lost.
     */
    private static void stop(List<Process> procs, Duration grace) throws InterruptedException {
        procs.forEach(p -> p.toHandle().destroy());
        for (Process p : procs) {
            if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private int waitAll(List<Process> procs) throws InterruptedException {
        List<Process> running = new ArrayList<>(procs);
        while (!running.isEmpty()) {
            for (Process p : new ArrayList<>(running)) {
                if (p.waitFor(100, TimeUnit.MILLISECONDS)) {
                    running.remove(p);
                    int code = p.exitValue();
                    if (code != 0) {
                        int rank = topology.nodeRank() * topology.procsPerNode() + procs.indexOf(p);
                        LOG.error("rank {} exited with status {}; stopping the other ranks on this node", rank, code);
                        stop(running, Duration.ofSeconds(10));
                        return code;
                    }
                }
            }
        }
        return 0;
    }
}
