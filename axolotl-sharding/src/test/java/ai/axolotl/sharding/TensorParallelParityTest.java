package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Tensor parallel passes the strategy test kit unchanged: tp 2 alone (world 2), with sequence parallelism and
 * without, with activation checkpointing, and composed with data parallel (dp_replicate 2 x tp 2, world 4): loss
 * every step 1e-5, eval loss 1e-5, final weights 1e-4, save/crash/resume, untied and tied embeddings; bf16 tracks
 * the one-process bf16 curve.
 */
class TensorParallelParityTest {
    @Test
    void tensorParallelMatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        new StrategyTestKit((c, g) -> {
            var s = Strategies.create(c, g);
            built.add(s.name() + "@" + g.spec().worldSize());
            return s;
        }, "").tensorParallel(2).assertParity(dir, 2);
        assertThat(built).contains("tp@2");
    }

    @Test
    void withoutSequenceParallelMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, "tensor_parallel_sequence_parallel: false\n").tensorParallel(2)
                .assertParity(dir, 2);
    }

    /** Activation checkpointing recomputes each layer with its cuts: the curve is still the one-process one. */
    @Test
    void withActivationCheckpointingMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, "gradient_checkpointing: true\n").tensorParallel(2)
                .assertParity(dir, 2);
    }

    /**
     * bf16 compute (activations and the regions' collectives in bf16, fp32 masters and fp32 norm-gradient sums)
     * follows the one-process bf16 curve within bf16 rounding (2e-2, as for ZeRO-3 and FSDP2) and learns.
     */
    @Test
    void bf16TracksOneProcess(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, "bf16: true\n").tensorParallel(2);
        StrategyTestKit.fixture(dir, false, 262);
        List<Double> one = kit.run(kit.config(dir, 1, dir.resolve("one"), Map.of()), 0, -1).get(0);
        List<Double> two = kit.run(kit.config(dir, 2, dir.resolve("two"), Map.of()), 2, -1).get(0);
        assertThat(two).hasSize(one.size());
        for (int i = 0; i < one.size(); i++) {
            assertThat(two.get(i)).as("step " + (i + 1)).isCloseTo(one.get(i), within(2e-2));
        }
        assertThat(two.get(two.size() - 1)).isLessThan(two.get(0) - 0.1);
    }

    @Test
    void composedWithReplicasMatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        new StrategyTestKit((c, g) -> {
            var s = Strategies.create(c, g);
            built.add(s.name() + "@" + g.spec().worldSize());
            return s;
        }, "dp_replicate_size: 2\n").tensorParallel(2).resumeAt(4).assertParity(dir, 4);
        assertThat(built).contains("ddp+tp@4");
    }
}
