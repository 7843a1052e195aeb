package ai.axolotl.nccl;

import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.distributed.CollectivesProvider;
import ai.axolotl.distributed.Rendezvous;
import ai.axolotl.distributed.WorldSpec;
import ai.axolotl.runtime.Tensors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NcclEnvironmentTest {
    @Test
    void disablesPeerToPeerOnlyWhenUnsupportedAndUnset() {
        var d = NcclEnvironment.decide(Map.of(), NcclEnvironment.PeerAccess.UNSUPPORTED, 4);
        assertThat(d.variables()).containsEntry("NCCL_P2P_DISABLE", "1");
        assertThat(d.notes()).anyMatch(n -> n.contains("P2P support not detected"));
        assertThat(NcclEnvironment.decide(Map.of(), NcclEnvironment.PeerAccess.SUPPORTED, 4).variables()).isEmpty();
        assertThat(NcclEnvironment.decide(Map.of(), NcclEnvironment.PeerAccess.UNKNOWN, 4).variables()).isEmpty();
        assertThat(NcclEnvironment.decide(Map.of(), NcclEnvironment.PeerAccess.UNSUPPORTED, 1).variables()).isEmpty();
        var user = NcclEnvironment.decide(Map.of("NCCL_P2P_DISABLE", "0"), NcclEnvironment.PeerAccess.UNSUPPORTED, 4);
        assertThat(user.variables()).containsEntry("NCCL_P2P_DISABLE", "0");
    }

    @Test
    void passesThroughAndLogsTheUsersVariables() {
        var d = NcclEnvironment.decide(Map.of("NCCL_IB_DISABLE", "1", "NCCL_SOCKET_IFNAME", "eth0", "NCCL_BUFFSIZE",
                "2097152", "NCCL_DEBUG", "INFO", "PATH", "/bin"), NcclEnvironment.PeerAccess.SUPPORTED, 2);
        assertThat(d.variables()).containsOnlyKeys("NCCL_IB_DISABLE", "NCCL_SOCKET_IFNAME", "NCCL_BUFFSIZE",
                "NCCL_DEBUG");
        assertThat(d.notes()).contains("NCCL_SOCKET_IFNAME=eth0 (from the environment)");
    }

    @Test
    void peerAccessIsUnknownWithoutCudaBindings() {
        assertThat(NcclEnvironment.probePeerAccess(2)).isEqualTo(NcclEnvironment.PeerAccess.UNKNOWN);
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
