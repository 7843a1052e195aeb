package ai.axolotl.examples;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * A user-written {@link ai.axolotl.train.ShardingStrategy} passes the same kit as the built-in ones: the
 * one-process loss curve, eval loss and weights at worlds 2 and 4 (ranks as threads on real Gloo groups), tied
 * and untied, and save, crash, resume.
 */
class AllReduceDataParallelTest {
    @Test
    void aUserWrittenStrategyPassesTheStrategyTestKit(@TempDir Path dir) throws Exception {
        new StrategyTestKit((config, groups) -> new AllReduceDataParallel(groups.world(), groups.device()), "")
                .assertParity(dir, 2, 4);
    }
}
