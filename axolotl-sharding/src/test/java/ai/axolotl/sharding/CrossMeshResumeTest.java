package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Checkpoints move between meshes and layers: saved at step 5 on one mesh, resumed on another with the same global
 * batch, the run continues with the losses of the uninterrupted run (fp32, 1e-5), evaluates to its final eval loss
 * (1e-5) and ends with its weights (1e-4).
 * Covers adding and removing tensor parallel ([dp_shard 4] -> [dp_shard 2, tp 2] and back), tensor parallel to one
 * process and back, moving between the partitioned layers (ZeRO-3 x tp 2 -> FSDP2 over dp_shard 2), and data
 * parallel's whole state (libtorch's optimizer.pt) to and from the partitioned layers with and without tensor
 * parallel, both ways, and a plain one-process run (no fsdp_config: data parallel over one rank) continuing a
 * tensor-parallel FSDP2 checkpoint. A tensor-parallel checkpoint consolidates without a process group into exactly the model
 * the run gathered.
 */
class CrossMeshResumeTest {
    private static final String FSDP = ReshardTest.FSDP;
    private static final String ZERO3 = ReshardTest.zero(3);

    private static StrategyTestKit kit(String layer, int tp) {
        return kit(layer, tp, 1);
    }

    private static StrategyTestKit kit(String layer, int tp, int cp) {
        String yaml = switch (layer) {
            case "zero3" -> ZERO3;
            case "ddp" -> "";
            default -> FSDP;
        };
        return new StrategyTestKit(Strategies::create, yaml).tensorParallel(tp).contextParallel(cp);
    }

    /**
     * Context parallel shards no weights: its checkpoints have the layout of the mesh without cp (DDP x cp: one
     * writer of the whole state; FSDP2 over dp_shard x cp: partitions that reshard like any other), so runs move
     * onto and off cp meshes and continue the uninterrupted curve.
     */
    @ParameterizedTest(name = "{0} world {1} tp {2} cp {3} -> {4} world {5} tp {6} cp {7}")
    @CsvSource({
        "fsdp2, 2, 1, 1, fsdp2, 4, 1, 2",
        "ddp, 4, 2, 2, ddp, 1, 1, 1",
        "ddp, 2, 1, 1, ddp, 4, 1, 2",
    })
    void resumesOntoAndOffContextParallelMeshes(String fromLayer, int fromWorld, int fromTp, int fromCp,
                                                String toLayer, int toWorld, int toTp, int toCp,
                                                @TempDir Path dir) throws Exception {
        move(kit(fromLayer, fromTp, fromCp), fromWorld, kit(toLayer, toTp, toCp), toWorld,
                fromLayer + " world " + fromWorld + " tp " + fromTp + " cp " + fromCp + " -> " + toLayer + " world "
                        + toWorld + " tp " + toTp + " cp " + toCp, dir);
    }

    @ParameterizedTest(name = "{0} world {1} tp {2} -> {3} world {4} tp {5}")
    @CsvSource({
        "fsdp2, 4, 1, fsdp2, 4, 2",
        "fsdp2, 4, 2, fsdp2, 4, 1",
        "fsdp2, 2, 2, fsdp2, 1, 1",
        "fsdp2, 1, 1, fsdp2, 2, 2",
        "zero3, 4, 2, fsdp2, 2, 1",
        "ddp, 2, 1, fsdp2, 2, 2",
        "fsdp2, 4, 2, ddp, 2, 1",
        "ddp, 2, 2, zero3, 2, 1",
        "zero3, 2, 1, ddp, 2, 2",
        "fsdp2, 2, 2, ddp, 1, 1",
    })
    void resumesOnAnotherMesh(String fromLayer, int fromWorld, int fromTp, String toLayer, int toWorld, int toTp,
                              @TempDir Path dir) throws Exception {
        move(kit(fromLayer, fromTp), fromWorld, kit(toLayer, toTp), toWorld, fromLayer + " world " + fromWorld
                + " tp " + fromTp + " -> " + toLayer + " world " + toWorld + " tp " + toTp, dir);
    }

    private static void move(StrategyTestKit from, int fromWorld, StrategyTestKit to, int toWorld, String move,
                             Path dir) throws Exception {
        StrategyTestKit.fixture(dir, false, 262); // a vocabulary both meshes split
        Map<String, String> save = new LinkedHashMap<>();
        save.put("save_strategy", "steps");
        save.put("save_steps", "5");
        List<Double> full = from.run(from.config(dir, fromWorld, dir.resolve("full"), save), fromWorld, -1).get(0);
        List<Double> fullEvals = List.copyOf(from.lastEvalLosses().get(0));
        assertThat(fullEvals).as("evaluations at step 5 and at the end").hasSize(2);
        Path out = dir.resolve("moved");
        assertThatThrownBy(() -> from.run(from.config(dir, fromWorld, out, save), fromWorld, 6))
                .isInstanceOf(StrategyTestKit.SimulatedCrash.class);
        assertThat(out.resolve("checkpoint-5")).isDirectory();
        if (Files.exists(out.resolve("checkpoint-5/tensor_parallel/meta.json"))) {
            // merge-sharded-fsdp-weights / zero-to-fp32 without a process group: the model the run gathered
            MeshCheckpoint.consolidate(out.resolve("checkpoint-5"), dir.resolve("merged"));
            ReshardTest.assertIdentical(dir.resolve("merged"), out.resolve("checkpoint-5"),
                    "consolidated tp checkpoint vs the one gathered by the run");
        }
        Map<String, String> resume = new LinkedHashMap<>(save);
        resume.put("resume_from_checkpoint", "true");
        List<List<Double>> resumed = to.run(to.config(dir, toWorld, out, resume), toWorld, -1);
        for (int r = 0; r < toWorld; r++) {
            StrategyTestKit.assertClose(resumed.get(r), full.subList(5, StrategyTestKit.STEPS), move + " rank " + r);
            // the resumed run evaluates at the end only (step 5's evaluation happened before the save)
            StrategyTestKit.assertEvalClose(to.lastEvalLosses().get(r), fullEvals.subList(1, 2), move + " rank " + r);
        }
        StrategyTestKit.assertSameWeights(dir.resolve("full"), out, move);
    }
}
