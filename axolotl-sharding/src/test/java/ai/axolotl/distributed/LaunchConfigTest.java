package ai.axolotl.distributed;

import ai.axolotl.config.ConfigException;
import ai.axolotl.config.ParallelSettings;
import ai.axolotl.distributed.launch.NodeTopology;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LaunchConfigTest {
    @Test
    void accelerateConfigGivesTheTopologyAndNamesItsClassicMistakes(@TempDir Path dir) throws Exception {
        Path ok = dir.resolve("ok.yaml");
        Files.writeString(ok, "machine_rank: 1\nmain_process_ip: 10.1.2.3\nmain_process_port: 29555\n"
                + "num_machines: 2\nnum_processes: 8\n");
        assertThat(NodeTopology.fromAccelerateConfig(ok)).isEqualTo(new NodeTopology(2, 1, 4, "10.1.2.3", 29555));
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "machine_rank: 0\nmain_process_ip: 10.1.2.3\nnum_machines: 2\nnum_processes: 5\n");
        assertThatThrownBy(() -> NodeTopology.fromAccelerateConfig(bad))
                .hasMessageContaining("num_processes (5) is not num_machines (2) x processes per machine");
        Path rank = dir.resolve("rank.yaml");
        Files.writeString(rank, "machine_rank: 2\nmain_process_ip: 10.1.2.3\nnum_machines: 2\nnum_processes: 4\n");
        assertThatThrownBy(() -> NodeTopology.fromAccelerateConfig(rank)).hasMessageContaining("machine_rank 2");
    }

    /**
     * Writers: cp ranks hold the same replicated state as their data-parallel peers, so of each tensor-parallel
     * slice exactly one rank (dp_replicate = dp_shard = cp = 0) has gradient rank 0, and the gradient ranks number
     * each dp x cp group 0..n-1 in its group order.
     */
    @Test
    void exactlyOneRankPerTensorParallelSliceWritesUnderContextParallel() {
        DeviceMesh mesh = new DeviceMesh(2, 2, 2, 2);
        for (int tp = 0; tp < 2; tp++) {
            int writers = 0;
            for (int r = 0; r < mesh.size(); r++) {
                if (mesh.coordinates(r)[3] == tp && mesh.gradientRank(r) == 0) {
                    writers++;
                    assertThat(mesh.coordinates(r)).containsExactly(0, 0, 0, tp);
                }
            }
            assertThat(writers).isEqualTo(1);
        }
        for (int r = 0; r < mesh.size(); r++) {
            List<Integer> group = mesh.groupRanks(r, DeviceMesh.Dim.DP_REPLICATE, DeviceMesh.Dim.DP_SHARD,
                    DeviceMesh.Dim.CP);
            assertThat(mesh.gradientRank(r)).isEqualTo(group.indexOf(r));
        }
        // the data-parallel rank (which rows a rank reads) ignores cp: both cp ranks read the same rows
        assertThat(mesh.dataParallelRank(0)).isEqualTo(mesh.dataParallelRank(2));
    }

    @Test
    void meshResolvesAsAxolotlAndPrintsEveryFactorWhenWrong() {
        ParallelSettings p = new ParallelSettings(null, null, null, null, null, null, null, 2, 2, 2, 2, null, null, true, null, null);
        assertThat(DeviceMesh.resolve(p, 16)).isEqualTo(new DeviceMesh(2, 2, 2, 2));
        ParallelSettings auto = new ParallelSettings(null, null, null, null, null, null, null, 1, 1, null, 2, null, null, true, null, null);
        assertThat(DeviceMesh.resolve(auto, 16)).isEqualTo(new DeviceMesh(2, 8, 1, 1));
        ParallelSettings none = new ParallelSettings(null, null, null, null, null, null, null, 1, 1, null, 1, null, null, true, null, null);
        assertThat(DeviceMesh.resolve(none, 2)).isEqualTo(new DeviceMesh(1, 2, 1, 1));
        ParallelSettings bad = new ParallelSettings(null, null, null, null, null, null, null, 1, 1, 3, 1, null, null, true, null, null);
        assertThatThrownBy(() -> DeviceMesh.resolve(bad, 4)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("dp_replicate(1) * dp_shard(3) * cp(1) * tp(1) != world_size(4)");
        DeviceMesh m = new DeviceMesh(2, 2, 1, 2);
        assertThat(m.groupRanks(5, DeviceMesh.Dim.TP)).isEqualTo(List.of(4, 5));
        assertThat(m.groupRanks(5, DeviceMesh.Dim.DP_SHARD)).isEqualTo(List.of(5, 7));
        assertThat(m.groupRanks(5, DeviceMesh.Dim.DP_REPLICATE, DeviceMesh.Dim.DP_SHARD)).isEqualTo(List.of(1, 3, 5, 7));
        assertThat(m.dataParallelRank(5)).isEqualTo(2);
    }
}
