package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Tensor parallel passes the strategy test kit unchanged: tp 2 alone (world 2), with sequence parallelism and
 * without, with activation checkpointing, and composed with every data-parallel layer: DDP (dp_replicate 2 x tp 2),
 * FSDP2 (dp_shard 1 and 2 x tp 2), HSDP (dp_replicate 2 x dp_shard 2 x tp 2, world 8) and ZeRO 1-3 (dp 2 x tp 2):
 * loss every step 1e-5, eval loss 1e-5, final weights 1e-4, save/crash/resume on the composed mesh, untied and tied
 * embeddings; bf16 tracks the one-process bf16 curve.
 */
class TensorParallelParityTest {
    @Test
    void tensorParallelMatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording("", built).tensorParallel(2).assertParity(dir, 2);
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
        assertBf16Tracks(dir, "", 2);
    }

    /** bf16 over FSDP2 x tp 2 (world 4): gathers in bf16, fp32 masters and reductions, the same curve. */
    @Test
    void bf16ComposedWithFsdp2TracksOneProcess(@TempDir Path dir) throws Exception {
        assertBf16Tracks(dir, Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"), 4);
    }

    private static void assertBf16Tracks(Path dir, String yaml, int world) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, "bf16: true\n" + yaml).tensorParallel(2);
        StrategyTestKit.fixture(dir, false, 262);
        List<Double> one = kit.run(kit.config(dir, 1, dir.resolve("one"), Map.of()), 0, -1).get(0);
        List<Double> many = kit.run(kit.config(dir, world, dir.resolve("many"), Map.of()), world, -1).get(0);
        assertThat(many).hasSize(one.size());
        for (int i = 0; i < one.size(); i++) {
            assertThat(many.get(i)).as("step " + (i + 1)).isCloseTo(one.get(i), within(2e-2));
        }
        assertThat(many.get(many.size() - 1)).isLessThan(many.get(0) - 0.1);
    }

    @Test
    void composedWithReplicasMatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording("dp_replicate_size: 2\n", built).tensorParallel(2).resumeAt(4).assertParity(dir, 4);
        assertThat(built).contains("ddp+tp@4");
    }

    /**
     * FSDP2 shards each rank's tensor-parallel slices over dp_shard (2-D mesh dp_shard 2 x tp 2 at world 4; a
     * shard group of one at world 2), resuming on the 2-D mesh.
     */
    @Test
    void composedWithFsdp2MatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording(Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"), built).tensorParallel(2)
                .resumeAt(4).assertParity(dir, 2, 4);
        assertThat(built).contains("fsdp2+tp@2", "fsdp2+tp@4");
    }

    /** HSDP x TP: the 3-D mesh dp_replicate 2 x dp_shard 2 x tp 2 (world 8). */
    @Test
    void composedWithHsdpMatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording(Fsdp2ParityTest.fsdp("  reshard_after_forward: false\n") + "dp_replicate_size: 2\n",
                built).tensorParallel(2).resumeAt(8).assertParity(dir, 8);
        assertThat(built).contains("hsdp+tp@8");
    }

    /**
     * ZeRO partitions each rank's slices over the data-parallel group (dp 2 x tp 2): stage 1 reduces on the last
     * micro-batch, stages 2 and 3 every micro-batch (so the norms' sequence-parallel gradient sum runs every
     * micro-batch too), stage 3 gathers the slices' partitions around each unit.
     */
    @ParameterizedTest(name = "ZeRO stage {0} x tp 2")
    @ValueSource(ints = {1, 2, 3})
    void composedWithZeroMatchesOneProcess(int stage, @TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording(ZeroParityTest.deepspeed(stage), built).tensorParallel(2).resumeAt(4)
                .assertParity(dir, 4);
        assertThat(built).contains("zero" + stage + "+tp@4");
    }
}
