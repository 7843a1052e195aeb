package ai.axolotl.nccl;

import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.distributed.CollectivesProvider;
import ai.axolotl.distributed.Rendezvous;
import ai.axolotl.distributed.WorldSpec;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NcclEnvironmentTest {
    private static final NcclEnvironment.PeerAccessReport SUPPORTED =
            new NcclEnvironment.PeerAccessReport(NcclEnvironment.PeerAccess.SUPPORTED, "");
    private static final NcclEnvironment.PeerAccessReport UNSUPPORTED =
            new NcclEnvironment.PeerAccessReport(NcclEnvironment.PeerAccess.UNSUPPORTED, "no peer access cuda:0 -> cuda:1");
    private static final NcclEnvironment.PeerAccessReport UNKNOWN =
            new NcclEnvironment.PeerAccessReport(NcclEnvironment.PeerAccess.UNKNOWN, "no bindings");

    @Test
    void disablesPeerToPeerOnlyWhenUnsupportedAndUnset() {
        var d = NcclEnvironment.decide(Map.of(), UNSUPPORTED, 4);
        assertThat(d.variables()).containsEntry("NCCL_P2P_DISABLE", "1");
        assertThat(d.notes()).anyMatch(n -> n.contains("P2P support not detected")
                && n.contains("no peer access cuda:0 -> cuda:1"));
        assertThat(NcclEnvironment.decide(Map.of(), SUPPORTED, 4).variables()).isEmpty();
        var unknown = NcclEnvironment.decide(Map.of(), UNKNOWN, 4);
        assertThat(unknown.variables()).isEmpty();
        assertThat(unknown.notes()).singleElement().asString().contains("not probed (no bindings)")
                .contains("NCCL_P2P_DISABLE=1");
        assertThat(NcclEnvironment.decide(Map.of(), UNSUPPORTED, 1).variables()).isEmpty();
        var user = NcclEnvironment.decide(Map.of("NCCL_P2P_DISABLE", "0"), UNSUPPORTED, 4);
        assertThat(user.variables()).containsEntry("NCCL_P2P_DISABLE", "0");
    }

    @Test
    void everyOrderedPairOfGpusIsProbed() {
        List<String> asked = new ArrayList<>();
        var report = NcclEnvironment.probePeerAccess(4, (a, b) -> {
            asked.add(a + ">" + b);
            return a == 3 && b == 1 ? 0 : 1;
        });
        assertThat(asked).hasSize(12).doesNotContain("0>0", "1>1", "2>2", "3>3").contains("1>3", "3>1", "2>0");
        assertThat(report.access()).isEqualTo(NcclEnvironment.PeerAccess.UNSUPPORTED);
        assertThat(report.detail()).isEqualTo("no peer access cuda:3 -> cuda:1");
        assertThat(NcclEnvironment.probePeerAccess(4, (a, b) -> 1).access())
                .isEqualTo(NcclEnvironment.PeerAccess.SUPPORTED);
        var failing = NcclEnvironment.probePeerAccess(2, (a, b) -> {
            throw new NcclEnvironment.ProbeUnavailableException("CUDA error 101");
        });
        assertThat(failing).isEqualTo(new NcclEnvironment.PeerAccessReport(NcclEnvironment.PeerAccess.UNKNOWN,
                "CUDA error 101"));
    }

    @Test
    void theDecisionIsWrittenIntoThisProcessWithoutReplacingTheUsersValues() {
        var d = new NcclEnvironment.Decision(Map.of("AXOLOTL_TEST_NCCL_A", "1", "AXOLOTL_TEST_NCCL_B", "2"),
                List.of());
        List<String> written = NcclEnvironment.apply(d, Map.of("AXOLOTL_TEST_NCCL_B", "user"),
                (k, v) -> torch.set_env(k, v, false));
        assertThat(written).containsExactly("AXOLOTL_TEST_NCCL_A");
        // libtorch's setenv reached this process's environment, where NCCL will read it
        assertThat(torch.has_env("AXOLOTL_TEST_NCCL_A")).isTrue();
        assertThat(torch.has_env("AXOLOTL_TEST_NCCL_B")).isFalse();
    }

    @Test
    void passesThroughAndLogsTheUsersVariables() {
        var d = NcclEnvironment.decide(Map.of("NCCL_IB_DISABLE", "1", "NCCL_SOCKET_IFNAME", "eth0", "NCCL_BUFFSIZE",
                "2097152", "NCCL_DEBUG", "INFO", "PATH", "/bin"), SUPPORTED, 2);
        assertThat(d.variables()).containsOnlyKeys("NCCL_IB_DISABLE", "NCCL_SOCKET_IFNAME", "NCCL_BUFFSIZE",
                "NCCL_DEBUG");
        assertThat(d.notes()).contains("NCCL_SOCKET_IFNAME=eth0 (from the environment)");
    }

    @Test
    void peerAccessIsUnknownWithoutCudaBindings() {
        var report = NcclEnvironment.probePeerAccess(2);
        assertThat(report.access()).isEqualTo(NcclEnvironment.PeerAccess.UNKNOWN);
        assertThat(report.detail()).contains("org.bytedeco:cuda");
    }

    @Test
    void creatingAGroupWithoutCudaSaysWhy() {
        Assumptions.assumeFalse(NcclCollectives.available(), "a GPU is present; the CUDA path is tested on it");
        assertThatThrownBy(() -> NcclCollectives.create(null, "x", 0, 1, Duration.ofSeconds(1)))
                .isInstanceOf(CollectiveException.class).hasMessageContaining("needs a CUDA build");
    }

    @Test
    void cudaTensorsAreCarriedByTheNcclProviderWhichSaysWhyItCannotRunHere() {
        Assumptions.assumeFalse(NcclCollectives.available(), "a GPU is present; the CUDA path is tested on it");
        assertThat(CollectivesProvider.all()).extracting(CollectivesProvider::backend).contains("nccl");
        assertThatThrownBy(() -> CollectivesProvider.forDevice("cuda")).isInstanceOf(CollectiveException.class)
                .hasMessageContaining("no usable collectives backend for cuda tensors")
                .hasMessageContaining("nccl: this build or machine has no CUDA device");
    }

    @Test
    void ncclFailuresCarryTheHintForTheirCause() {
        assertThat(NcclCollectives.hint("NCCL error in: ProcessGroupNCCL.cpp:1234, unhandled cuda error"))
                .contains("NCCL_P2P_DISABLE=1");
        assertThat(NcclCollectives.hint("Watchdog caught collective operation timeout")).contains("ddp_timeout");
        assertThat(NcclCollectives.hint("invalid argument")).isEmpty();
    }

    @Test
    void ncclGroupOfOneReducesOnTheGpu() {
        Assumptions.assumeTrue(NcclCollectives.available(), "no CUDA device in this build/machine: NCCL test "
                + "skipped (build with -Pgpu on a GPU machine to run it)");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        try (var rv = Rendezvous.join(new WorldSpec(0, 1, 0, 1,
                "127.0.0.1", port), Duration.ofSeconds(60), "nccl");
             NcclCollectives c = NcclCollectives.create(rv.store(), "nccl", 0, 1, Duration.ofSeconds(60));
             var cpu = Tensors.floats(new float[] {1, 2, 3}, 3);
             var gpu = cpu.cuda()) {
            c.allReduceSum(gpu).await();
            assertThat(Tensors.toFloatArray(gpu.cpu())).containsExactly(1, 2, 3);
        }
    }
}
