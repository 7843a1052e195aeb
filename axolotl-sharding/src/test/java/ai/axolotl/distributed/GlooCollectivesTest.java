package ai.axolotl.distributed;

import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.train.SingleProcessStrategy;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Real Gloo groups, ranks as threads: values of every collective, mesh sub-groups, and failures that name ranks. */
class GlooCollectivesTest {
    static ThreadLauncher launcher(int world, int timeoutSeconds) {
        return new ThreadLauncher(world, Duration.ofSeconds(timeoutSeconds), (c, g) -> new SingleProcessStrategy());
    }

    /**
     * Context parallel's exchanges on a real group of 3: all-to-all moves block r of every rank to rank r, and a
     * ring of send/recv (each rank sends to the next and receives from the previous, both in flight) delivers
     * each neighbour's tensor.
     */
    @Test
    void allToAllAndRingSendRecvMoveBlocksBetweenRanks() {
        List<float[]> results = launcher(3, 60).run(g -> {
            Collectives c = g.world();
            int r = c.rank();
            float[] v = new float[3 * 2];
            for (int b = 0; b < 3; b++) {
                for (int k = 0; k < 2; k++) {
                    v[b * 2 + k] = 100 * r + 10 * b + k;
                }
            }
            float[] got = new float[6 + 2];
            try (Tensor in = Tensors.floats(v, 6); Tensor out = Tensors.zeros(6)) {
                c.allToAll(out, in).await();
                System.arraycopy(Tensors.toFloatArray(out), 0, got, 0, 6);
            }
            try (Tensor mine = Tensors.floats(new float[] {1000 * r, 1000 * r + 1}, 2);
                 Tensor previous = Tensors.zeros(2)) {
                var sent = c.send(mine, (r + 1) % 3);
                var received = c.recv(previous, (r + 2) % 3);
                sent.await();
                received.await();
                System.arraycopy(Tensors.toFloatArray(previous), 0, got, 6, 2);
            }
            return got;
        });
        for (int r = 0; r < 3; r++) {
            float[] got = results.get(r);
            for (int from = 0; from < 3; from++) {
                for (int k = 0; k < 2; k++) {
                    assertThat(got[from * 2 + k]).as("rank " + r + " block from rank " + from)
                            .isEqualTo(100 * from + 10 * r + k);
                }
            }
            int previous = (r + 2) % 3;
            assertThat(got[6]).as("rank " + r + " received from " + previous).isEqualTo(1000 * previous);
            assertThat(got[7]).isEqualTo(1000 * previous + 1);
        }
    }

    /** Sequence parallelism's collectives: along dimension 1 of [B, T, H], equal to cat / sum-then-narrow. */
    @Test
    void dimensionAwareCollectivesSplitAndJoinAlongADimension() {
        List<float[]> results = launcher(2, 60).run(g -> {
            Collectives c = g.world();
            int r = c.rank();
            List<Float> out = new ArrayList<>();
            for (int repeat = 0; repeat < 50; repeat++) {
                float[] v = new float[2 * 3 * 2];
                for (int i = 0; i < v.length; i++) {
                    v[i] = 100 * r + i;
                }
                try (Tensor flat = Tensors.floats(v, v.length); Tensor t = flat.view(2, 3, 2);
                     Tensor gathered = c.allGatherAlong(t, 1); Tensor g2 = gathered.contiguous();
                     Tensor summed = c.reduceScatterAlong(gathered, 1)) {
                    assertThat(gathered.shape()).containsExactly(2, 6, 2);
                    assertThat(summed.shape()).containsExactly(2, 3, 2);
                    if (repeat == 0) {
                        for (float f : Tensors.toFloatArray(g2)) {
                            out.add(f);
                        }
                        try (Tensor s2 = summed.contiguous()) {
                            for (float f : Tensors.toFloatArray(s2)) {
                                out.add(f);
                            }
                        }
                    }
                }
            }
            float[] a = new float[out.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = out.get(i);
            }
            return a;
        });
        // rank 0 holds 0..11, rank 1 holds 100..111, each [2, 3, 2]; gathered along T: per batch row, rank 0's three
        // positions then rank 1's
        float[] expectedGather = {0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105,
            6, 7, 8, 9, 10, 11, 106, 107, 108, 109, 110, 111};
        for (int r = 0; r < 2; r++) {
            float[] got = results.get(r);
            for (int i = 0; i < expectedGather.length; i++) {
                assertThat(got[i]).as("gathered element " + i + " on rank " + r).isEqualTo(expectedGather[i]);
            }
            // the gathered tensor is the same on both ranks, so the reduce-scatter gives twice this rank's block
            for (int b = 0; b < 2; b++) {
                for (int k = 0; k < 6; k++) {
                    float expected = 2 * expectedGather[b * 12 + r * 6 + k];
                    assertThat(got[24 + b * 6 + k]).as("reduced element on rank " + r).isEqualTo(expected);
                }
            }
        }
    }

    @Test
    void collectivesComputeTheRightValues() {
        List<float[]> results = launcher(3, 60).run(g -> {
            Collectives c = g.world();
            int r = c.rank();
            List<Float> out = new ArrayList<>();
            try (Tensor t = Tensors.floats(new float[] {r + 1, 10 * (r + 1)}, 2)) {
                c.allReduceSum(t).await();
                for (float f : Tensors.toFloatArray(t)) {
                    out.add(f);
                }
            }
            try (Tensor in = Tensors.floats(new float[] {r, r}, 2); Tensor all = Tensors.zeros(6)) {
                c.allGather(all, in).await();
                for (float f : Tensors.toFloatArray(all)) {
                    out.add(f);
                }
            }
            try (Tensor in = Tensors.floats(new float[] {1, 2, 3, 4, 5, 6}, 6); Tensor mine = Tensors.zeros(2)) {
                c.reduceScatterSum(mine, in).await();
                for (float f : Tensors.toFloatArray(mine)) {
                    out.add(f);
                }
            }
            try (Tensor b = Tensors.floats(new float[] {r == 1 ? 42 : 0}, 1)) {
                c.broadcast(b, 1).await();
                out.add(Tensors.toFloatArray(b)[0]);
            }
            out.add((float) c.allReduceSum(r * 2.0));
            c.barrier();
            float[] a = new float[out.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = out.get(i);
            }
            return a;
        });
        for (int r = 0; r < 3; r++) {
            float[] a = results.get(r);
            assertThat(a[0]).isEqualTo(6f);
            assertThat(a[1]).isEqualTo(60f);
            assertThat(new float[] {a[2], a[3], a[4], a[5], a[6], a[7]}).containsExactly(0, 0, 1, 1, 2, 2);
            assertThat(new float[] {a[8], a[9]}).containsExactly(3f * (2 * r + 1), 3f * (2 * r + 2));
            assertThat(a[10]).isEqualTo(42f);
            assertThat(a[11]).isEqualTo(6f);
        }
    }

    @Test
    void meshSubGroupsReduceWithinTheirMembers() {
        DeviceMesh mesh = new DeviceMesh(2, 2, 1, 1);
        List<Double> sums = launcher(4, 60).run(g -> {
            Collectives shard = g.group(mesh, DeviceMesh.Dim.DP_SHARD);
            Collectives replicate = g.group(mesh, DeviceMesh.Dim.DP_REPLICATE);
            int r = g.spec().rank();
            return shard.allReduceSum(r) * 100 + replicate.allReduceSum(r);
        });
        // shard groups {0,1} {2,3}; replicate groups {0,2} {1,3}
        assertThat(sums).containsExactly(1 * 100 + 2.0, 1 * 100 + 4.0, 5 * 100 + 2.0, 5 * 100 + 4.0);
    }

    @Test
    void aRankThatNeverArrivesFailsTheOthersWithinTheTimeoutNamingIt() {
        long t0 = System.nanoTime();
        AtomicLong enteredAtNanos = new AtomicLong();
        AtomicLong hungSinceNanos = new AtomicLong();
        AtomicLong failedAtNanos = new AtomicLong();
        assertThatThrownBy(() -> launcher(2, 6).run(g -> {
            if (g.spec().rank() == 1) {
                hungSinceNanos.set(System.nanoTime());
                Thread.sleep(9000); // hung: never joins the collective
                return 0.0;
            }
            g.monitor().progress(1);
            try {
                enteredAtNanos.set(System.nanoTime());
                return g.world().allReduceSum(1.0);
            } catch (CollectiveException e) {
                failedAtNanos.set(System.nanoTime());
                throw e;
            }
        })).isInstanceOf(CollectiveException.class)
                .hasMessageContaining("allreduce on rank 0 of 2 timed out after 6 s")
                .hasMessageContaining("rank 1 (at step 0, others at 1)");
        // rank 0 fails at its timeout after entering the collective, not when the hung rank wakes up (measured from
        // the collective, not from the launch: the rendezvous before it takes seconds on a loaded machine)
        assertThat((failedAtNanos.get() - enteredAtNanos.get()) / 1e9).isBetween(5.5, 8.0);
        assertThat((failedAtNanos.get() - hungSinceNanos.get()) / 1e9).as("before the hung rank wakes up")
                .isLessThan(9.0);
        // the launcher returns after the hung rank's 9 s plus at most one timeout for its closing barrier (the
        // failed rank skips its own, not waiting a second timeout for a peer that will never come)
        assertThat((System.nanoTime() - hungSinceNanos.get()) / 1e9).isLessThan(9 + 6 + 5);
        assertThat(hungSinceNanos.get()).isGreaterThan(t0);
    }

    @Test
    void groupsComeFromTheProviderForTheirDeviceGlooForCpu() {
        assertThat(CollectivesProvider.forDevice("cpu").backend()).isEqualTo("gloo");
        // this module's class path has no NCCL provider (axolotl-nccl depends on it, not the other way round)
        assertThatThrownBy(() -> CollectivesProvider.forDevice("cuda")).isInstanceOf(CollectiveException.class)
                .hasMessageContaining("no collectives backend for cuda tensors on the class path (add axolotl-nccl)");
        List<String> backends = launcher(2, 20).run(g -> {
            DeviceMesh mesh = new DeviceMesh(1, 2, 1, 1);
            return g.backend() + "/" + g.group(mesh, DeviceMesh.Dim.DP_SHARD).getClass().getSimpleName();
        });
        assertThat(backends).containsOnly("gloo/GlooCollectives");
    }

    /**
     * A rank whose master does not answer fails at its timeout (c10d's own client retried past it: 17 s for a 10 s
     * timeout, printing C++ frames), and a master that comes up late is still joined: the port probe before the
     * store's client leaves the store working.
     */
    @Test
    void aRankThatCannotReachTheMasterFailsAtTheTimeoutAndALateMasterIsJoined() throws Exception {
        int port = ThreadLauncher.freePort();
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> Rendezvous.join(new WorldSpec(1, 2, 1, 2, "127.0.0.1", port), Duration.ofSeconds(4),
                "unreachable")).isInstanceOf(CollectiveException.class)
                .hasMessageStartingWith("rank 1: cannot reach the rendezvous store at 127.0.0.1:" + port + " within 4 s");
        assertThat((System.nanoTime() - t0) / 1e9).isBetween(3.9, 5.5);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Future<Rendezvous> client = pool.submit(() -> Rendezvous.join(new WorldSpec(1, 2, 1, 2, "127.0.0.1", port),
                    Duration.ofSeconds(20), "late"));
            Thread.sleep(2500);
            Future<Rendezvous> master = pool.submit(() -> Rendezvous.join(new WorldSpec(0, 2, 0, 2, "127.0.0.1", port),
                    Duration.ofSeconds(20), "late"));
            try (Rendezvous a = client.get(); Rendezvous b = master.get()) {
                a.set("from-1", "hello");
                assertThat(b.await("from-1", 1, "a greeting")).isEqualTo("hello");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRankClaimedTwiceFailsEveryRankNamingIt() throws Exception {
        int port = ThreadLauncher.freePort();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Rendezvous>> f = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                boolean server = i == 0;
                f.add(pool.submit(() -> Rendezvous.join(new WorldSpec(0, 2, 0, 1, "127.0.0.1", port),
                        Duration.ofSeconds(20), "dup", server)));
            }
            for (Future<Rendezvous> x : f) {
                assertThatThrownBy(x::get).hasRootCauseInstanceOf(CollectiveException.class)
                        .rootCause().hasMessageContaining("rank 0 was claimed by 2 processes")
                        .hasMessageContaining("same node rank");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void worldComesFromTorchrunOrSlurmVariables() {
        WorldSpec t = WorldSpec.fromEnvironment(Map.of("RANK", "3", "WORLD_SIZE", "4", "LOCAL_RANK", "1",
                "LOCAL_WORLD_SIZE", "2", "MASTER_ADDR", "10.0.0.1", "MASTER_PORT", "1234"));
        assertThat(t).isEqualTo(new WorldSpec(3, 4, 1, 2, "10.0.0.1", 1234));
        assertThat(t.nodeRank()).isEqualTo(1);
        WorldSpec s = WorldSpec.fromEnvironment(Map.of("SLURM_PROCID", "5", "SLURM_NTASKS", "8",
                "SLURM_LOCALID", "1", "SLURM_NTASKS_PER_NODE", "4", "SLURM_NODELIST", "gpu[07-08],cpu1"));
        assertThat(s).isEqualTo(new WorldSpec(5, 8, 1, 4, "gpu07", 29500));
        assertThat(WorldSpec.fromEnvironment(Map.of())).isNull();
        assertThatThrownBy(() -> WorldSpec.fromEnvironment(Map.of("RANK", "0", "WORLD_SIZE", "3",
                "LOCAL_WORLD_SIZE", "2"))).hasMessageContaining("not a multiple of LOCAL_WORLD_SIZE");
    }
}
