package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.sharding.partition.PartitionCheckpoint;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * FSDP2 sharded checkpoints move between world sizes: saved at step 5 by N ranks, resumed by M ranks with the same
 * global batch, the run continues with the losses of the uninterrupted run (fp32, 1e-5) and ends with its weights;
 * the checkpoint also consolidates into an HF model without a process group.
 */
class Fsdp2ReshardTest {
    static final String FSDP = Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n");

    @Test
    void fullStateDictCheckpointsHoldTheConsolidatedModel(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create,
                FSDP.replace("SHARDED_STATE_DICT", "FULL_STATE_DICT"));
        StrategyTestKit.fixture(dir, true);
        Map<String, String> save = new LinkedHashMap<>();
        save.put("save_strategy", "steps");
        save.put("save_steps", "10");
        kit.run(kit.config(dir, 2, dir.resolve("out"), save), 2, -1);
        Path ckpt = dir.resolve("out/checkpoint-10");
        assertThat(ckpt.resolve("model.safetensors")).exists();
        assertThat(ckpt.resolve("fsdp/meta.json")).as("still resumable").exists();
        StrategyTestKit.assertSameWeights(ckpt, dir.resolve("out"), "FULL_STATE_DICT checkpoint vs export");
    }

    @Test
    void resumesAtAnotherWorldSize(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, FSDP);
        StrategyTestKit.fixture(dir, false);
        Map<String, String> save = new LinkedHashMap<>();
        save.put("save_strategy", "steps");
        save.put("save_steps", "5");
        List<Double> full = kit.run(kit.config(dir, 2, dir.resolve("full"), save), 2, -1).get(0);
        for (int[] move : new int[][] {{4, 2}, {2, 1}, {1, 2}}) {
            Path out = dir.resolve("from" + move[0] + "to" + move[1]);
            assertThatThrownBy(() -> kit.run(kit.config(dir, move[0], out, save), move[0], 6))
                    .isInstanceOf(StrategyTestKit.SimulatedCrash.class);
            assertThat(out.resolve("checkpoint-5/fsdp/meta.json")).exists();
            Map<String, String> resume = new LinkedHashMap<>(save);
            resume.put("resume_from_checkpoint", "true");
            AxolotlConfig c = kit.config(dir, move[1], out, resume);
            List<Double> resumed = kit.run(c, move[1], -1).get(0);
            StrategyTestKit.assertClose(resumed, full.subList(5, StrategyTestKit.STEPS),
                    "resumed " + move[0] + " -> " + move[1]);
            StrategyTestKit.assertSameWeights(dir.resolve("full"), out, "resumed " + move[0] + " -> " + move[1]);
            PartitionCheckpoint.consolidate(out.resolve("checkpoint-5"), out.resolve("merged"));
            assertThat(out.resolve("merged/model.safetensors")).exists();
        }
    }
}
