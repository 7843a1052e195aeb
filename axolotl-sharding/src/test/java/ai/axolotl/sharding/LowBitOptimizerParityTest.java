package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

/**
 * The low-bit AdamW states under every data-parallel layer: the strategy test kit, unchanged, with a vocabulary of
 * 392 (the byte tokenizer needs 259): the embedding and lm_head (12,544 elements, 49 blocks) keep quantized states
 * under every format, and their partitions are not whole blocks until rounded up (6,272 elements at 2 ranks, 98
 * rows of 32 under FSDP2 at 4), while the smaller tensors keep fp32 ones. Rounded up, one process and every world
 * size quantize the same blocks: the same curve, evaluations, weights and resume (with the rounding removed the
 * resharding test fails at its first resumed step).
 */
class LowBitOptimizerParityTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"adamw_bnb_8bit", "adamw_torch_8bit", "adamw_torch_4bit"})
    void ddpMatchesOneProcess(String name, @TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, "").vocabulary(392).optimizer(name).assertParity(dir, 2);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"adamw_bnb_8bit", "adamw_torch_8bit", "adamw_torch_4bit"})
    void zeroThreeMatchesOneProcessAtTwoAndFourRanks(String name, @TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, ZeroParityTest.deepspeed(3)).vocabulary(392).optimizer(name)
                .assertParity(dir, 2, 4);
    }

    @ParameterizedTest(name = "ZeRO stage {0}")
    @ValueSource(ints = {1, 2})
    void zeroOneAndTwoMatchOneProcess(int stage, @TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, ZeroParityTest.deepspeed(stage)).vocabulary(392)
                .optimizer("adamw_bnb_8bit").assertParity(dir, 2);
    }

    /** FSDP2 partitions whole rows: rounded up so every partition is still whole blocks. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"adamw_torch_8bit", "adamw_torch_4bit"})
    void fsdp2MatchesOneProcess(String name, @TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"))
                .vocabulary(392).optimizer(name).assertParity(dir, 2, 4);
    }

    /** The adapter's tensors under QLoRA with bitsandbytes' 8-bit AdamW, as Axolotl's qlora examples run. */
    @Test
    void qloraWithAn8bitOptimizerMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LoraParityTest.QLORA + ZeroParityTest.deepspeed(2)).vocabulary(392)
                .optimizer("adamw_bnb_8bit").assertParity(dir, 2);
    }

    /**
     * A low-bit state reshards: codes and block absmax are read by byte range from the saved partitions at their
     * own density (every partition whole blocks), ZeRO-3 and FSDP2 from 4 ranks to 2, 2 to 1 and 1 to 2, continuing
     * the uninterrupted curve; resuming it with another optimizer is one line naming both.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"zero3", "fsdp2"})
    void aLowBitStateReshardsToAnotherWorldSize(String strategy, @TempDir Path dir) throws Exception {
        String yaml = strategy.equals("fsdp2") ? ReshardTest.FSDP : ReshardTest.zero(3);
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, yaml).vocabulary(392)
                .optimizer("adamw_torch_4bit");
        StrategyTestKit.fixture(dir, false, 392);
        java.util.Map<String, String> save = new java.util.LinkedHashMap<>();
        save.put("save_strategy", "steps");
        save.put("save_steps", "5");
        java.util.List<Double> full = kit.run(kit.config(dir, 2, dir.resolve("full"), save), 2, -1).get(0);
        for (int[] move : new int[][] {{4, 2}, {2, 1}, {1, 2}}) {
            Path out = dir.resolve("from" + move[0] + "to" + move[1]);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> kit.run(kit.config(dir, move[0], out, save),
                    move[0], 6)).isInstanceOf(StrategyTestKit.SimulatedCrash.class);
            java.util.Map<String, String> resume = new java.util.LinkedHashMap<>(save);
            resume.put("resume_from_checkpoint", "true");
            java.util.List<Double> resumed = kit.run(kit.config(dir, move[1], out, resume), move[1], -1).get(0);
            StrategyTestKit.assertClose(resumed, full.subList(5, StrategyTestKit.STEPS),
                    "resumed " + move[0] + " -> " + move[1]);
            StrategyTestKit.assertSameWeights(dir.resolve("full"), out, "resumed " + move[0] + " -> " + move[1],
                    1e-3);
        }
        StrategyTestKit other = new StrategyTestKit(Strategies::create, yaml).vocabulary(392)
                .optimizer("adamw_torch");
        java.util.Map<String, String> resume = new java.util.LinkedHashMap<>(save);
        resume.put("resume_from_checkpoint", dir.resolve("from4to2/checkpoint-5").toString());
        resume.put("overwrite_output_dir", "true");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> other.run(other.config(dir, 2, dir.resolve("o"),
                resume), 2, -1)).hasMessageContaining("holds the state of optimizer adamw_torch_4bit; this run's optimizer adamw");
    }
}
