package ai.axolotl.distributed;

import ai.axolotl.model.CausalLm;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.runtime.Tensors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
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
        try (CausalLm a = HfCheckpoint.load(dir.resolve("ddp/out")); CausalLm b = HfCheckpoint.load(dir.resolve("one/out"))) {
            for (String n : a.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(a.parameters().get(n), b.parameters().get(n))).as(n).isLessThan(1e-4);
            }
        }
    }

    /**
     * SIGTERM to the local launcher (a scheduler's preemption, Ctrl-C's sibling): it passes the signal to its rank
     * JVMs, which agree on a step, write a complete sharded checkpoint and exit with the signal's status, and the
     * launcher waits for them. Before, the JVMs exited at once and nothing was saved.
     */
    @Test
    void sigtermStopsEveryRankAfterOneStepWithACheckpoint(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("launcher.log");
        Process p = RankProcesses.start(RankProcesses.shortRun(dir, 500, "--launcher", "local", "--nproc-per-node",
                "2", "--fsdp_version", "2", "--fsdp_config.reshard_after_forward", "true"), FAST_TIMEOUT, log,
                List.of());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (!Files.readString(log).contains("step 3/") && System.nanoTime() < deadline && p.isAlive()) {
            Thread.sleep(200);
        }
        assertThat(Files.readString(log)).contains("step 3/");
        p.destroy(); // SIGTERM to the launcher
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("stopped within 120 s").isTrue();
        String out = Files.readString(log);
        assertThat(out).contains("[rank 0] ").contains("stopped on request after step")
                .contains("[rank 1] ");
        String stoppedAt = out.replaceAll("(?s).*stopped on request after step (\\d+) .*", "$1");
        Path checkpoint = dir.resolve("out/checkpoint-" + stoppedAt);
        assertThat(checkpoint).as(out).isDirectory();
        assertThat(out.lines().filter(l -> l.contains("stopped on request after step " + stoppedAt + " ")))
                .as("both ranks stopped after the same step").hasSize(2);
        try (var files = Files.walk(checkpoint)) {
            assertThat(files.map(f -> f.getFileName().toString()).toList()).as("both ranks' shards")
                    .contains("rank0.safetensors", "rank1.safetensors");
        }
    }

    /**
     * {@code kill -9} of the launcher (which cannot pass anything on): its rank JVMs notice, stop after the same
     * step with a checkpoint as on SIGTERM, and exit; none is left running.
     */
    @Test
    void killingTheLauncherLeavesNoRankRunning(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("launcher.log");
        Process p = RankProcesses.start(RankProcesses.shortRun(dir, 500, "--launcher", "local", "--nproc-per-node",
                "2"), FAST_TIMEOUT, log, List.of());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (!Files.readString(log).contains("step 3/") && System.nanoTime() < deadline && p.isAlive()) {
            Thread.sleep(200);
        }
        assertThat(Files.readString(log)).contains("step 3/");
        List<ProcessHandle> ranks = p.descendants().toList();
        assertThat(ranks).as("two rank JVMs").hasSizeGreaterThanOrEqualTo(2);
        long killed = System.nanoTime();
        p.destroyForcibly(); // SIGKILL: no hook of the launcher runs
        for (ProcessHandle r : ranks) {
            r.onExit().get(120, TimeUnit.SECONDS);
        }
        System.out.printf("ranks exited %.1f s after the launcher was killed%n",
                (System.nanoTime() - killed) / 1e9);
        try (var files = Files.list(dir.resolve("out"))) {
            assertThat(files.map(f -> f.getFileName().toString()).toList()).as("the stop wrote a checkpoint")
                    .anyMatch(n -> n.startsWith("checkpoint-"));
        }
    }

    /**
     * The case that hung for ddp_timeout (1,800 s by default): resuming an FSDP2 checkpoint whose rank-1 shard is
     * missing. Rank 1's load fails; it tells rank 0 through the store and leaves without a closing barrier, so
     * both rank JVMs exit within seconds, rank 0 naming rank 1 and the file, with the default timeout.
     */
    @Test
    void aMissingShardStopsBothRankJvmsWithinSecondsNamingRankAndFile(@TempDir Path dir) throws Exception {
        List<String> fsdp = List.of("--launcher", "local", "--nproc-per-node", "2", "--fsdp_version", "2",
                "--fsdp_config.reshard_after_forward", "true", "--save-steps", "2");
        Path first = dir.resolve("first.log");
        Process p = RankProcesses.start(RankProcesses.shortRun(dir, 2, fsdp.toArray(String[]::new)), Map.of(), first,
                List.of());
        assertThat(p.waitFor(240, TimeUnit.SECONDS)).as("finished").isTrue();
        assertThat(p.exitValue()).as(Files.readString(first)).isZero();
        Path shard;
        try (var files = Files.walk(dir.resolve("out/checkpoint-2"))) {
            shard = files.filter(f -> f.getFileName().toString().equals("rank1.safetensors")).findFirst().orElseThrow();
        }
        Files.delete(shard);
        List<String> resume = new java.util.ArrayList<>(fsdp);
        resume.addAll(List.of("--resume_from_checkpoint", "latest"));
        Path log = dir.resolve("resume.log");
        long t0 = System.nanoTime();
        Process q = RankProcesses.start(RankProcesses.shortRun(dir, 4, resume.toArray(String[]::new)), Map.of(), log,
                List.of());
        assertThat(q.waitFor(240, TimeUnit.SECONDS)).as("stopped").isTrue();
        double seconds = (System.nanoTime() - t0) / 1e9;
        String out = Files.readString(log);
        System.out.printf("resume with rank 1's shard missing: both ranks exited %.1f s after the launch (JVM start,"
                + " load and the failure included; ddp_timeout 1800 s)%n", seconds);
        assertThat(q.exitValue()).as(out).isNotZero();
        assertThat(out).containsPattern("\\[rank 0\\].*rank 1 failed: .*rank1\\.safetensors")
                .containsPattern("\\[rank 1\\].*rank1\\.safetensors").doesNotContain("\tat ");
        assertThat(seconds).as(out).isLessThan(90);
    }

    /** Two rank JVMs of a long run, 20 s collective timeout from the environment or from ddp_timeout. */
    private static Process[] startTwoRanks(Path dir, String timeoutFrom) throws Exception {
        int port = ThreadLauncher.freePort();
        Process[] ranks = new Process[2];
        for (int r = 0; r < 2; r++) {
            Map<String, String> env = new HashMap<>();
            if (timeoutFrom.equals("AXOLOTL_NCCL_TIMEOUT")) {
                env.put("AXOLOTL_NCCL_TIMEOUT", "20");
            }
            env.putAll(Map.of("RANK", "" + r, "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "" + port));
            List<String> args = timeoutFrom.equals("ddp_timeout")
                    ? RankProcesses.shortRun(dir, 500, "--ddp_timeout", "20") : RankProcesses.shortRun(dir, 500);
            ranks[r] = RankProcesses.start(args, env, dir.resolve("rank" + r + ".log"), List.of());
        }
        // rank 0 prints the step lines; its step 3 needed rank 1's part of every collective up to it
        Path log0 = dir.resolve("rank0.log");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (!Files.readString(log0).contains("step 3/") && System.nanoTime() < deadline && ranks[1].isAlive()) {
            Thread.sleep(200);
        }
        assertThat(Files.readString(log0)).contains("step 3/");
        assertThat(ranks[1].isAlive()).as("rank 1 runs").isTrue();
        return ranks;
    }

    /** Rank 0 exits non-zero within 30 s of what happened to rank 1, naming it, without a stack trace. */
    private static void assertRankZeroFailsNamingRankOne(Path dir, Process[] ranks, long since, String what)
            throws Exception {
        try {
            assertThat(ranks[0].waitFor(60, TimeUnit.SECONDS)).as("rank 0 exits").isTrue();
            double seconds = (System.nanoTime() - since) / 1e9;
            String out0 = Files.readString(dir.resolve("rank0.log"));
            System.out.printf("rank 0 failed %.1f s after rank 1 was %s%n", seconds, what);
            assertThat(ranks[0].exitValue()).as(out0).isNotZero();
            assertThat(out0).containsPattern("error: rank 0: .*rank 1");
            assertThat(out0).doesNotContain("\tat ");
            assertThat(seconds).as("seconds from rank 1 " + what + " to rank 0's exit").isLessThan(30);
        } finally {
            for (Process p : ranks) {
                p.destroyForcibly();
            }
        }
    }

    @ParameterizedTest(name = "timeout from {0}")
    @ValueSource(strings = {"AXOLOTL_NCCL_TIMEOUT", "ddp_timeout"})
    void killingOneRankMakesTheOtherFailNamingIt(String timeoutFrom, @TempDir Path dir) throws Exception {
        Process[] ranks = startTwoRanks(dir, timeoutFrom);
        ranks[1].destroyForcibly(); // SIGKILL
        assertRankZeroFailsNamingRankOne(dir, ranks, System.nanoTime(), "killed");
    }

    /**
     * A hung rank (SIGSTOP: its sockets stay open, so nothing but the timeout can end the wait) makes rank 0 fail
     * within {@code ddp_timeout: 20}, not the 1800 s default: the config key bounds the collectives.
     */
    @Test
    void aHungRankFailsTheOtherWithinDdpTimeout(@TempDir Path dir) throws Exception {
        Process[] ranks = startTwoRanks(dir, "ddp_timeout");
        Process stop = new ProcessBuilder("kill", "-STOP", Long.toString(ranks[1].pid())).start();
        assertThat(stop.waitFor(10, TimeUnit.SECONDS) && stop.exitValue() == 0).as("SIGSTOP sent").isTrue();
        assertRankZeroFailsNamingRankOne(dir, ranks, System.nanoTime(), "stopped");
    }

    @Test
    void ranksWithDifferentConfigsBothAbortNamingTheKey(@TempDir Path dir) throws Exception {
        int port = ThreadLauncher.freePort();
        Process[] ranks = new Process[2];
        for (int r = 0; r < 2; r++) {
            Map<String, String> env = new HashMap<>(FAST_TIMEOUT);
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
