package ai.axolotl.sharding;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.Trainer;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * FSDP2 and ZeRO sharded checkpoints move between world sizes: saved at step 5 by N ranks, resumed by M ranks with
 * the same global batch (each rank reading only the byte ranges of its new partitions), the run continues with the
 * losses of the uninterrupted run (fp32, 1e-5) and ends with its weights; the checkpoint also consolidates into an
 * HF model without a process group. FULL_STATE_DICT checkpoints and the export, streamed from the gathered
 * masters, equal that independent consolidation of the sharded files bit for bit.
 */
class ReshardTest {
    static final String FSDP = Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n");

    static String zero(int stage) {
        return "deepspeed:\n  zero_optimization:\n    stage: " + stage + "\n    stage3_param_persistence_threshold: 40\n";
    }

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
        // an independent consolidation: read back from the partition files, no process group
        MeshCheckpoint.consolidate(ckpt, dir.resolve("merged"));
        assertIdentical(dir.resolve("merged"), ckpt, "FULL_STATE_DICT checkpoint vs merged partitions");
        assertIdentical(dir.resolve("merged"), dir.resolve("out"), "export vs merged partitions of the last step");
    }

    /**
     * The export gathers one parameter at a time: when the writer receives a weight, the one before it has been
     * released, and what rank 0 holds is its model state plus that one full parameter.
     */
    @Test
    void exportHoldsOneFullParameterAtATime(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, zero(3));
        StrategyTestKit.fixture(dir, false);
        AxolotlConfig c = kit.config(dir, 2, dir.resolve("out"), Map.of("max_steps", "2"));
        long[] measured = new long[3]; // calls, most bytes held during a call, model state after training
        boolean[] previousReleased = {true};
        new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(c, s -> {
            try (Trainer t = new Trainer(c, s, List.of(), 1)) {
                var r = t.fit();
                long state = s.modelStateBytes();
                Tensor[] previous = new Tensor[1];
                s.streamFullWeights((name, weight) -> {
                    if (previous[0] != null && !previous[0].isNull()) {
                        previousReleased[0] = false;
                    }
                    previous[0] = weight;
                    measured[0]++;
                    measured[1] = Math.max(measured[1], s.modelStateBytes() + weight.nbytes());
                });
                if (s.rank() == 0) {
                    measured[2] = state;
                }
                return r;
            }
        });
        long largest = 4L * 261 * 32; // the embedding and lm_head: 261 x 32 fp32
        assertThat(measured[0]).as("every parameter reaches rank 0's writer").isEqualTo(
                StrategyTestKit.model(false).numHiddenLayers() * 9L + 3);
        assertThat(previousReleased[0]).as("each full parameter is released before the next is gathered").isTrue();
        assertThat(measured[1]).isLessThanOrEqualTo(measured[2] + largest);
    }

    static void assertIdentical(Path a, Path b, String what) throws Exception {
        try (CausalLm ma = HfCheckpoint.load(a); CausalLm mb = HfCheckpoint.load(b)) {
            assertThat(mb.parameters().keySet()).isEqualTo(ma.parameters().keySet());
            for (String n : ma.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(ma.parameters().get(n), mb.parameters().get(n))).as(what + ": " + n)
                        .isEqualTo(0.0);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"fsdp2", "zero2", "zero3"})
    void resumesAtAnotherWorldSize(String strategy, @TempDir Path dir) throws Exception {
        String yaml = strategy.equals("fsdp2") ? FSDP : zero(strategy.charAt(4) - '0');
        String sub = strategy.equals("fsdp2") ? "fsdp" : "zero";
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, yaml);
        StrategyTestKit.fixture(dir, false);
        Map<String, String> save = new LinkedHashMap<>();
        save.put("save_strategy", "steps");
        save.put("save_steps", "5");
        List<Double> full = kit.run(kit.config(dir, 2, dir.resolve("full"), save), 2, -1).get(0);
        for (int[] move : new int[][] {{4, 2}, {2, 1}, {1, 2}}) {
            Path out = dir.resolve("from" + move[0] + "to" + move[1]);
            assertThatThrownBy(() -> kit.run(kit.config(dir, move[0], out, save), move[0], 6))
                    .isInstanceOf(StrategyTestKit.SimulatedCrash.class);
            assertThat(out.resolve("checkpoint-5/" + sub + "/meta.json")).exists();
            Map<String, String> resume = new LinkedHashMap<>(save);
            resume.put("resume_from_checkpoint", "true");
            AxolotlConfig c = kit.config(dir, move[1], out, resume);
            List<Double> resumed = kit.run(c, move[1], -1).get(0);
            StrategyTestKit.assertClose(resumed, full.subList(5, StrategyTestKit.STEPS),
                    "resumed " + move[0] + " -> " + move[1]);
            StrategyTestKit.assertSameWeights(dir.resolve("full"), out, "resumed " + move[0] + " -> " + move[1]);
            MeshCheckpoint.consolidate(out.resolve("checkpoint-5"), out.resolve("merged"));
            assertThat(out.resolve("merged/model.safetensors")).exists();
        }
    }
}
