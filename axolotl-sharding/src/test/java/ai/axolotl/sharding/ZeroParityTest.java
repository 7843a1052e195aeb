package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

/** Every ZeRO stage passes the strategy test kit unchanged. */
class ZeroParityTest {
    /** The inline DeepSpeed block of the ZeRO kit runs: the stage, overlap_comm, "auto" where Axolotl fills in. */
    static String deepspeed(int stage) {
        return "deepspeed:\n  zero_optimization:\n    stage: " + stage + "\n    overlap_comm: true\n"
                + "    stage3_param_persistence_threshold: 40\n"
                + "  gradient_accumulation_steps: auto\n  train_micro_batch_size_per_gpu: auto\n"
                + "  gradient_clipping: auto\n  bf16:\n    enabled: auto\n";
    }

    @ParameterizedTest(name = "ZeRO stage {0}")
    @ValueSource(ints = {1, 2, 3})
    void zeroStageMatchesOneProcess(int stage, @TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, deepspeed(stage)).assertParity(dir);
    }
}
