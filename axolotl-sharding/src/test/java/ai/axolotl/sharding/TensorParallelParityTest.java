package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Tensor parallel passes the strategy test kit unchanged: tp 2 alone (world 2), with sequence parallelism and
 * without, and composed with data parallel (dp_replicate 2 x tp 2, world 4): loss every step 1e-5, eval loss
 * 1e-5, final weights 1e-4, save/crash/resume, untied and tied embeddings.
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
