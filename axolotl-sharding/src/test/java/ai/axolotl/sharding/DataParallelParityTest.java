package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/** Data parallel passes the strategy test kit. */
class DataParallelParityTest {
    @Test
    void dataParallelMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, "").assertParity(dir);
    }
}
