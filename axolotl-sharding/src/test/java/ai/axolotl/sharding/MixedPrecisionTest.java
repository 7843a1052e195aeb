package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * bf16 compute with fp32 master weights under ZeRO-3 and FSDP2: the sharded runs follow the one-process bf16
 * curve (bf16 rounding differs with the order of reductions, so within 2e-2, not the fp32 1e-5) and learn.
 */
class MixedPrecisionTest {
    @Test
    void bf16UnderZero3AndFsdp2TracksOneProcess(@TempDir Path dir) throws Exception {
        String[] blocks = {
            "bf16: true\ndeepspeed:\n  zero_optimization:\n    stage: 3\n  bf16:\n    enabled: true\n",
            "bf16: true\n" + Fsdp2ParityTest.fsdp("  mixed_precision_policy: bf16\n")
        };
        for (String block : blocks) {
            Path d = dir.resolve(block.contains("deepspeed") ? "zero3" : "fsdp2");
            StrategyTestKit kit = new StrategyTestKit(Strategies::create, block);
            StrategyTestKit.fixture(d, false);
            List<Double> one = kit.run(kit.config(d, 1, d.resolve("one"), Map.of()), 0, -1).get(0);
            List<Double> two = kit.run(kit.config(d, 2, d.resolve("two"), Map.of()), 2, -1).get(0);
            assertThat(two).hasSize(one.size());
            for (int i = 0; i < one.size(); i++) {
                assertThat(two.get(i)).as(d.getFileName() + " step " + (i + 1)).isCloseTo(one.get(i), within(2e-2));
            }
            assertThat(two.get(two.size() - 1)).isLessThan(two.get(0) - 0.1);
        }
    }
}
