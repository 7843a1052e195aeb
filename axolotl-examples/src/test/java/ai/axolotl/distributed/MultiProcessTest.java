package ai.axolotl.distributed;

import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.runtime.Tensors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Ranks as separate JVMs: the local launcher, a dead rank, ranks that disagree, and two "nodes" in network
 * namespaces joined by a veth pair.
 */
class MultiProcessTest {
    static final Map<String, String> FAST_TIMEOUT = Map.of("AXOLOTL_NCCL_TIMEOUT", "40");

    @Test
    void localLauncherTrainsTwoJvmsToIdenticalWeightsEqualToOneProcess(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("launcher.log");
        Process p = RankProcesses.start(RankProcesses.shortRun(dir.resolve("ddp"), 4, "--launcher", "local",
                "--nproc-per-node", "2"), FAST_TIMEOUT, log, List.of());
        assertThat(p.waitFor(240, TimeUnit.SECONDS)).as("finished").isTrue();
        String out = Files.readString(log);
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).contains("[rank 0]").contains("[rank 1]")
                .contains("[rank 1] ").contains("all 2 data-parallel ranks hold identical weights");
        // one process with twice the accumulation sees the same global batches
        Path single = dir.resolve("single.log");
        Process q = RankProcesses.start(RankProcesses.shortRun(dir.resolve("one"), 4,
                "--gradient_accumulation_steps", "2"), Map.of(), single, List.of());
        assertThat(q.waitFor(240, TimeUnit.SECONDS)).isTrue();
        assertThat(q.exitValue()).as(Files.readString(single)).isZero();
        try (LlamaModel a = HfCheckpoint.load(dir.resolve("ddp/out")); LlamaModel b = HfCheckpoint.load(dir.resolve("one/out"))) {
            for (String n : a.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(a.parameters().get(n), b.parameters().get(n))).as(n).isLessThan(1e-4);
            }
        }
    }

    @Test
    void killingOneRankMakesTheOtherFailNamingIt(@TempDir Path dir) throws Exception {
        int port = ai.axolotl.distributed.launch.ThreadLauncher.freePort();
        Process[] ranks = new Process[2];
        for (int r = 0; r < 2; r++) {
            Map<String, String> env = new java.util.HashMap<>(FAST_TIMEOUT);
            env.putAll(Map.of("RANK", "" + r, "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "" + port));
            ranks[r] = RankProcesses.start(RankProcesses.shortRun(dir, 500), env, dir.resolve("rank" + r + ".log"),
                    List.of());
        }
        Path log1 = dir.resolve("rank1.log");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (!Files.readString(log1).contains("step 3/") && System.nanoTime() < deadline && ranks[1].isAlive()) {
            Thread.sleep(200);
        }
        assertThat(Files.readString(log1)).contains("step 3/");
        ranks[1].destroyForcibly(); // SIGKILL
        long killed = System.nanoTime();
        assertThat(ranks[0].waitFor(60, TimeUnit.SECONDS)).as("rank 0 exits within the timeout").isTrue();
        double seconds = (System.nanoTime() - killed) / 1e9;
        String out0 = Files.readString(dir.resolve("rank0.log"));
        assertThat(ranks[0].exitValue()).as(out0).isNotZero();
        assertThat(out0).containsPattern("error: rank 0: .*rank 1");
        assertThat(out0).doesNotContain("\tat ");
        System.out.printf("rank 0 failed %.1f s after rank 1 was killed%n", seconds);
    }

    @Test
    void ranksWithDifferentConfigsBothAbortNamingTheKey(@TempDir Path dir) throws Exception {
        int port = ai.axolotl.distributed.launch.ThreadLauncher.freePort();
        Process[] ranks = new Process[2];
        for (int r = 0; r < 2; r++) {
            Map<String, String> env = new java.util.HashMap<>(FAST_TIMEOUT);
            env.putAll(Map.of("RANK", "" + r, "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "" + port));
            List<String> args = r == 1 ? RankProcesses.shortRun(dir, 3, "--learning_rate", "0.5")
                    : RankProcesses.shortRun(dir, 3);
            ranks[r] = RankProcesses.start(args, env, dir.resolve("rank" + r + ".log"), List.of());
        }
        for (int r = 0; r < 2; r++) {
            assertThat(ranks[r].waitFor(120, TimeUnit.SECONDS)).isTrue();
            String out = Files.readString(dir.resolve("rank" + r + ".log"));
            assertThat(ranks[r].exitValue()).as(out).isNotZero();
            assertThat(out).contains("preflight failed").contains("rank 1 has a different config from rank 0 (keys "
                    + "[learning_rate])");
        }
    }

    @Test
    void twoNodesInNetworkNamespacesTrainTogether(@TempDir Path dir) throws Exception {
        NetworkNamespaces ns = NetworkNamespaces.create();
        Assumptions.assumeTrue(ns != null, NetworkNamespaces.whyUnavailable());
        try (ns) {
            int port = 29000 + (int) (ProcessHandle.current().pid() % 500);
            Process[] nodes = new Process[2];
            for (int n = 0; n < 2; n++) {
                // the same command on every node (same paths: preflight refuses a different output_dir)
                nodes[n] = RankProcesses.start(RankProcesses.shortRun(dir.resolve("run"), 3, "--num-nodes", "2",
                        "--node-rank", "" + n, "--master-addr", NetworkNamespaces.ADDRESS_A, "--master-port",
                        "" + port), FAST_TIMEOUT, dir.resolve("node" + n + ".log"), ns.exec(n));
            }
            for (int n = 0; n < 2; n++) {
                assertThat(nodes[n].waitFor(240, TimeUnit.SECONDS)).isTrue();
                String out = Files.readString(dir.resolve("node" + n + ".log"));
                assertThat(nodes[n].exitValue()).as(out).isZero();
                assertThat(out).contains("strategy ddp, world 2");
            }
            assertThat(dir.resolve("run/out/model.safetensors")).exists();
            assertThat(Files.readString(dir.resolve("node0.log"))).contains("[rank 0]").contains("exported the model");
            assertThat(Files.readString(dir.resolve("node1.log"))).contains("[rank 1]")
                    .doesNotContain("exported the model");
        }
    }
}
