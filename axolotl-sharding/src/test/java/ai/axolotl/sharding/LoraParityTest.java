package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

/**
 * LoRA composes with every parallelism: the strategy test kit, unchanged, with an adapter on every linear
 * projection (rank 4, alpha 8, so the adapter moves the loss within the kit's 10 steps): the loss curve, the eval
 * losses and the final adapter ({@code adapter_model.safetensors}, every tensor) of one process, with save, crash
 * and resume (the checkpoints hold only the adapter and its optimizer state).
 */
class LoraParityTest {
    /** The adapter block of every run here. */
    static final String LORA = "adapter: lora\nlora_r: 4\nlora_alpha: 8\nlora_dropout: 0.0\n"
            + "lora_target_linear: true\n";

    @Test
    void ddpMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LORA).assertParity(dir, 2);
    }

    @ParameterizedTest(name = "ZeRO stage {0}")
    @ValueSource(ints = {1, 2, 3})
    void zeroMatchesOneProcess(int stage, @TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LORA + ZeroParityTest.deepspeed(stage)).assertParity(dir, 2);
    }

    @ParameterizedTest(name = "reshard_after_forward {0}")
    @ValueSource(booleans = {true, false})
    void fsdp2MatchesOneProcess(boolean reshard, @TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LORA + Fsdp2ParityTest.fsdp("  reshard_after_forward: " + reshard
                + "\n")).assertParity(dir, 2);
    }

    @Test
    void hsdpMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LORA + Fsdp2ParityTest.fsdp("") + "dp_replicate_size: 2\n")
                .resumeAt(4).assertParity(dir, 4);
    }

    /** Column-parallel bases split B by rows, row-parallel bases split A by columns. */
    @Test
    void tensorParallelMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LORA).tensorParallel(2).assertParity(dir, 2);
    }

    @Test
    void fsdp2WithTensorParallelMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LORA + Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"))
                .tensorParallel(2).resumeAt(4).assertParity(dir, 4);
    }

    /** Modules to save (the embedding and lm_head trained in full beside the adapter) under FSDP2. */
    @Test
    void modulesToSaveMatchOneProcessUnderFsdp2(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LORA + "lora_modules_to_save: [embed_tokens]\n"
                + Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n")).assertParity(dir, 2);
    }

    /** QLoRA: the same adapter over the NF4 base (every rank quantizes the same base the same way). */
    static final String QLORA = LORA.replace("adapter: lora", "adapter: qlora\nload_in_4bit: true")
            + "gradient_checkpointing: true\n";

    @Test
    void qloraUnderDdpMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, QLORA).assertParity(dir, 2);
    }

    @ParameterizedTest(name = "ZeRO stage {0}")
    @ValueSource(ints = {1, 2, 3})
    void qloraUnderZeroMatchesOneProcess(int stage, @TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, QLORA + ZeroParityTest.deepspeed(stage)).assertParity(dir, 2);
    }

    @Test
    void qloraUnderFsdp2AndHsdpMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, QLORA + Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"))
                .assertParity(dir.resolve("fsdp2"), 2);
        new StrategyTestKit(Strategies::create, QLORA + Fsdp2ParityTest.fsdp("") + "dp_replicate_size: 2\n")
                .resumeAt(4).assertParity(dir.resolve("hsdp"), 4);
    }

    /**
     * {@code unfrozen_parameters} (one layer's MLP trained in full, the rest frozen) under FSDP2 and ZeRO-3, which
     * shard the frozen rest: the exported model (trained and frozen tensors, the frozen ones gathered for the
     * export) equals one process's.
     */
    @Test
    void unfrozenParametersMatchOneProcessUnderFsdp2AndZeroThree(@TempDir Path dir) throws Exception {
        String unfrozen = "unfrozen_parameters: ['model.layers.1.mlp']\n";
        new StrategyTestKit(Strategies::create, unfrozen + Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"))
                .assertParity(dir.resolve("fsdp2"), 2);
        new StrategyTestKit(Strategies::create, unfrozen + ZeroParityTest.deepspeed(3)).assertParity(dir.resolve("z3"), 2);
    }

    /**
     * QLoRA with tensor parallel: every rank quantizes each whole projection (gathered over tp) and keeps its slice
     * of the codes and decoded absmax, so its dequantized slice is exactly the one-process one's; the kit's model
     * cuts blocks (row-parallel slices of 16 and 24 columns), and FSDP2 then shards those slices' bytes.
     */
    @Test
    void qloraUnderTensorParallelMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, QLORA).tensorParallel(2).assertParity(dir.resolve("tp"), 2);
        new StrategyTestKit(Strategies::create, QLORA + Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"))
                .tensorParallel(2).resumeAt(4).assertParity(dir.resolve("fsdp2-tp"), 4);
    }

    /**
     * Context parallel slices no weights: LoRA and QLoRA on cp 2 (each rank the whole adapter and base, its chunks
     * of every row), and QLoRA on FSDP2 with the gathered base kept through backward (reshard_after_forward false).
     */
    @Test
    void loraAndQloraUnderContextParallelMatchOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, LORA).contextParallel(2).assertParity(dir.resolve("lora-cp"), 2);
        new StrategyTestKit(Strategies::create, QLORA).contextParallel(2).assertParity(dir.resolve("qlora-cp"), 2);
        new StrategyTestKit(Strategies::create, QLORA + Fsdp2ParityTest.fsdp("  reshard_after_forward: false\n"))
                .assertParity(dir.resolve("qlora-fsdp2-keep"), 2);
    }

    /** LoRA+ (B at 16 x lr, the embedding trained in full at its own rate) under ZeRO-3 and FSDP2. */
    @Test
    void loraPlusMatchesOneProcessUnderZeroThreeAndFsdp2(@TempDir Path dir) throws Exception {
        String plus = LORA + "loraplus_lr_ratio: 4\nloraplus_lr_embedding: 0.001\n"
                + "lora_modules_to_save: [embed_tokens]\n";
        new StrategyTestKit(Strategies::create, plus + ZeroParityTest.deepspeed(3)).assertParity(dir.resolve("z3"), 2);
        new StrategyTestKit(Strategies::create, plus + Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"))
                .assertParity(dir.resolve("fsdp2"), 2);
    }
}
