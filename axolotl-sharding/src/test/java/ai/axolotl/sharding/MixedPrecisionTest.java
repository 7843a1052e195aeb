package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.partition.PartitionedLayer;
import ai.axolotl.sharding.partition.ShardedParameter;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainingListener;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
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

    /**
     * bf16 is really on: under ZeRO-3 and FSDP2 the gathered parameters (what the units compute with) are bf16 while
     * the master partitions stay fp32, the same run without bf16 gathers fp32, and the two loss curves differ by
     * more than fp32 noise (a bf16 flag that did nothing would give the fp32 curve).
     */
    @Test
    void bf16GathersAndComputesInBf16AgainstAnFp32RunThatDiffers(@TempDir Path dir) throws Exception {
        String[][] cases = {
            {"zero3", "deepspeed:\n  zero_optimization:\n    stage: 3\n    stage3_param_persistence_threshold: 0\n"},
            {"fsdp2", Fsdp2ParityTest.fsdp("")}
        };
        for (String[] c : cases) {
            Path d = dir.resolve(c[0]);
            StrategyTestKit.fixture(d, false);
            boolean[] gatheredBf16 = new boolean[2];
            boolean[] mastersFp32 = new boolean[2];
            List<List<Double>> curves = new ArrayList<>();
            for (int bf16 = 0; bf16 < 2; bf16++) {
                String block = (bf16 == 1 ? "bf16: true\n" : "") + c[1];
                StrategyTestKit kit = new StrategyTestKit(Strategies::create, block);
                AxolotlConfig config = kit.config(d, 2, d.resolve("bf16-" + bf16), Map.of());
                List<Double> losses = new ArrayList<>();
                int which = bf16;
                new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(config, s -> {
                    TrainingListener rec = new TrainingListener() {
                        @Override
                        public void onStep(StepMetrics m) {
                            losses.add(m.loss());
                        }
                    };
                    try (Trainer t = new Trainer(config, s, s.rank() == 0 ? List.of(rec) : List.of(), 1)) {
                        var r = t.fit();
                        if (s.rank() == 0) {
                            ShardedParameter q = StrategyTestKit.layer(s, PartitionedLayer.class).sharded()
                                    .get("model.layers.0.self_attn.q_proj.weight");
                            gatheredBf16[which] = Tensors.sameType(q.param().scalar_type(), ScalarType.BFloat16);
                            mastersFp32[which] = Tensors.sameType(q.shard().scalar_type(), ScalarType.Float);
                        }
                        return r;
                    }
                });
                curves.add(losses);
            }
            assertThat(gatheredBf16[0]).as(c[0] + " fp32 run gathers in bf16").isFalse();
            assertThat(gatheredBf16[1]).as(c[0] + " bf16 run gathers in bf16").isTrue();
            assertThat(mastersFp32).as(c[0] + " masters are fp32 in both runs").containsOnly(true);
            double most = 0;
            for (int i = 0; i < curves.get(0).size(); i++) {
                most = Math.max(most, Math.abs(curves.get(0).get(i) - curves.get(1).get(i)));
            }
            assertThat(most).as(c[0] + ": bf16 vs fp32 loss curves").isGreaterThan(1e-4);
        }
    }
}
