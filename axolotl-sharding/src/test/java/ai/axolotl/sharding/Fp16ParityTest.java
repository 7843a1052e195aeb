package ai.axolotl.sharding;

import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.testkit.ForwardingStrategy;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.ShardingStrategy;
import ai.axolotl.train.UnitHooks;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * fp16 with dynamic loss scaling under DDP, ZeRO-2 and FSDP2 on a real Gloo group of 2: the runs track the
 * one-process fp16 curve, and a gradient overflow on one rank only (made inf in its last micro-batch's backward,
 * before the strategy reduces it) makes every rank skip that step, since the global norm they all see is inf.
 */
class Fp16ParityTest {
    private static final int OVERFLOW_STEP = 3;

    @Test
    void anOverflowOnOneRankSkipsTheStepOnEveryRankAndTheCurvesTrackOneProcess(@TempDir Path dir) throws Exception {
        String[][] cases = {
            {"ddp", "fp16: true\n"},
            {"zero2", "fp16: true\n" + ZeroParityTest.deepspeed(2)},
            {"fsdp2", "fp16: true\n" + Fsdp2ParityTest.fsdp("")},
        };
        for (String[] c : cases) {
            Path d = dir.resolve(c[0]);
            StrategyTestKit.fixture(d, false);
            List<List<Integer>> skipped = Collections.synchronizedList(new ArrayList<>());
            StrategyTestKit kit = new StrategyTestKit((config, groups) -> {
                List<Integer> mine = Collections.synchronizedList(new ArrayList<>());
                skipped.add(mine);
                return new OverflowOnLastRank(Strategies.create(config, groups), mine);
            }, c[1]);
            // the reference: one rank, through the same wrapper, so it overflows and skips at the same step
            List<Double> one = kit.run(kit.config(d, 1, d.resolve("one"), Map.of()), 1, -1).get(0);
            assertThat(skipped).singleElement().satisfies(s -> assertThat(s).containsExactly(OVERFLOW_STEP));
            skipped.clear();
            List<List<Double>> two = kit.run(kit.config(d, 2, d.resolve("two"), Map.of()), 2, -1);
            assertThat(skipped).as(c[0] + ": skipped steps per rank").hasSize(2)
                    .allSatisfy(s -> assertThat(s).containsExactly(OVERFLOW_STEP));
            for (List<Double> rank : two) {
                assertThat(rank).hasSize(one.size());
                for (int i = 0; i < one.size(); i++) {
                    assertThat(rank.get(i)).as(c[0] + " step " + (i + 1)).isCloseTo(one.get(i), within(1e-2));
                }
            }
            assertThat(two.get(0).get(one.size() - 1)).isLessThan(two.get(0).get(0) - 0.1);
        }
    }

    /**
     * On the last rank, at {@link #OVERFLOW_STEP}, fills the final norm's gradient with inf just before the strategy's
     * after-backward hook reduces it; records the steps this rank skipped.
     */
    private static final class OverflowOnLastRank extends ForwardingStrategy {
        private final List<Integer> skipped;
        private int completed;

        OverflowOnLastRank(ShardingStrategy inner, List<Integer> skipped) {
            super(inner);
            this.skipped = skipped;
        }

        @Override
        public UnitHooks hooks() {
            return UnitHooks.beforeGradientReduction(inner.hooks(), (u, last) -> {
                Tensor norm = u.parameters().get("model.norm.weight");
                if (last && norm != null && rank() == worldSize() - 1 && completed + 1 == OVERFLOW_STEP) {
                    try (Tensor g = norm.grad()) {
                        g.fill_(Tensors.scalar(Double.POSITIVE_INFINITY));
                    }
                }
            });
        }

        @Override
        public void step(double lr) {
            completed++;
            super.step(lr);
        }

        @Override
        public void skipStep() {
            completed++;
            skipped.add(completed);
            super.skipStep();
        }
    }
}
