package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * No unit's forward runs twice unless checkpointing asks for it: ZeRO-3 and FSDP2 (either
 * {@code reshard_after_forward}) run each of the kit model's 4 units once per micro-batch, and FSDP2's
 * {@code activation_checkpointing} (like {@code gradient_checkpointing}) runs each of its 2 decoder layers once more.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class RecomputeTest {
    private static final int UNITS = 4;
    private static final int LAYERS = 2;
    /** Micro-batches per rank over the kit's run: 10 steps x accumulation 2 at world 2. */
    private static final int MICRO_BATCHES = StrategyTestKit.STEPS * 2;

    private static long unitForwardsOnRankZero(Path dir, String extraYaml) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, extraYaml);
        StrategyTestKit.fixture(dir, false);
        AxolotlConfig config = kit.config(dir, 2, dir.resolve("out"), Map.of());
        long[] forwards = new long[2];
        new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(config, s -> {
            try (Trainer t = new Trainer(config, s, List.of(), 1)) {
                var r = t.fit();
                forwards[s.rank()] = t.unitForwards();
                return r;
            }
        });
        assertThat(forwards[1]).as("both ranks run the same forwards").isEqualTo(forwards[0]);
        return forwards[0];
    }

    @Test
    void zero3RunsEachForwardOnce(@TempDir Path dir) throws Exception {
        String ds = "deepspeed:\n  zero_optimization:\n    stage: 3\n    stage3_param_persistence_threshold: 40\n";
        assertThat(unitForwardsOnRankZero(dir, ds)).isEqualTo((long) MICRO_BATCHES * UNITS);
    }

    @Test
    void fsdp2RecomputesOnlyUnderActivationCheckpointing(@TempDir Path dir) throws Exception {
        assertThat(unitForwardsOnRankZero(dir.resolve("reshard"),
                Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n")))
                .isEqualTo((long) MICRO_BATCHES * UNITS);
        assertThat(unitForwardsOnRankZero(dir.resolve("keep"),
                Fsdp2ParityTest.fsdp("  reshard_after_forward: false\n")))
                .isEqualTo((long) MICRO_BATCHES * UNITS);
        assertThat(unitForwardsOnRankZero(dir.resolve("ac"),
                Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n  activation_checkpointing: true\n")))
                .isEqualTo((long) MICRO_BATCHES * (UNITS + LAYERS));
    }

    /** QLoRA recomputes its decoder layers whether or not gradient_checkpointing is set; LoRA does not. */
    @Test
    void qloraAlwaysRecomputesItsDecoderLayers(@TempDir Path dir) throws Exception {
        String lora = "adapter: lora\nlora_r: 4\nlora_alpha: 8\nlora_target_linear: true\n";
        assertThat(unitForwardsOnRankZero(dir.resolve("lora"), lora)).isEqualTo((long) MICRO_BATCHES * UNITS);
        assertThat(unitForwardsOnRankZero(dir.resolve("qlora"), lora.replace("adapter: lora",
                "adapter: qlora\nload_in_4bit: true"))).isEqualTo((long) MICRO_BATCHES * (UNITS + LAYERS));
    }
}
