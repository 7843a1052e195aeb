package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Data parallel passes the strategy test kit, at world 1 too: the kit builds the data-parallel strategy itself
 * (the CLI would pick the single-process one for one rank), so its buckets and all-reduce run against the
 * single-process reference at every world size.
 */
class DataParallelParityTest {
    @Test
    void dataParallelMatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        new StrategyTestKit((c, g) -> {
            ParallelPlan s = Strategies.dataParallel(c, g);
            built.add(s.name() + "@" + g.spec().worldSize());
            return s;
        }, "").assertParity(dir);
        assertThat(built).contains("ddp@1", "ddp@2", "ddp@4");
    }
}
