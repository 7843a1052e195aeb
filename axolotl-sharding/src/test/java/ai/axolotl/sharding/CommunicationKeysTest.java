package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.sharding.ddp.DdpLayer;
import ai.axolotl.sharding.partition.PartitionedLayer;
import ai.axolotl.sharding.testkit.ForwardingStrategy;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.ForwardingUnitHooks;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainingListener;
import ai.axolotl.train.ShardingStrategy;
import ai.axolotl.train.UnitHooks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The keys that shape communication act, each seen in what the strategy did, and none changes the loss curve:
 * DeepSpeed {@code reduce_bucket_size} (how many reduce-scatters), {@code overlap_comm} (whether reductions stay
 * in flight), {@code stage3_prefetch_bucket_size} and {@code stage3_max_live_parameters} (how much is gathered
 * at once, read from the gathered storages), and {@code ddp_bucket_cap_mb} (how many all-reduces).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class CommunicationKeysTest {
    /** 4 layers of 128: a layer unit is 147,712 elements (its norms included), the model 667,776. */
    private static final long LAYER = 2 * 128 * 128 + 2 * 64 * 128 + 3 * 128 * 256 + 2 * 128;

    private static AxolotlConfig config(Path dir, String extra, int accumulation) throws Exception {
        Files.createDirectories(dir.resolve("model"));
        ModelConfig.llama(300, 128, 256, 4, 4, 2, 256, 1e-5, 10000, false, "float32")
                .write(dir.resolve("model/config.json"));
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 64; i++) {
            b.append("{\"text\": \"row ").append(i).append(" counts ").append(i * 7 % 13).append(" apples\"}\n");
        }
        Files.writeString(dir.resolve("data.jsonl"), b.toString());
        Path yml = dir.resolve("c-" + Math.abs(extra.hashCode()) + "-" + accumulation + ".yml");
        Files.writeString(yml, "base_model: " + dir.resolve("model") + "\nreinit_weights: true\ndatasets:\n"
                + "  - path: " + dir.resolve("data.jsonl") + "\n    type: completion\nsequence_len: 32\n"
                + "micro_batch_size: 1\ngradient_accumulation_steps: " + accumulation + "\nmax_steps: 3\n"
                + "learning_rate: 0.001\noptimizer: adamw_torch\nmax_grad_norm: 1.0\nseed: 5\nsave_strategy: 'no'\n"
                + "output_dir: " + dir.resolve("out-" + Math.abs(extra.hashCode())) + "\n" + extra);
        return ConfigLoader.load(yml, Map.of()).config();
    }

    /** Losses of rank 0 of a world-2 run; {@code inspect} sees rank 0's strategy after training. */
    private static List<Double> run(AxolotlConfig c, Consumer<ShardingStrategy> inspect) {
        List<Double> losses = new ArrayList<>();
        new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(c, s -> {
            TrainingListener rec = new TrainingListener() {
                @Override
                public void onStep(StepMetrics m) {
                    losses.add(m.loss());
                }
            };
            try (Trainer t = new Trainer(c, s, s.rank() == 0 ? List.of(rec) : List.of(), 1)) {
                var r = t.fit();
                if (s.rank() == 0) {
                    inspect.accept(s);
                }
                return r;
            }
        });
        return losses;
    }

    private static String zero(int stage, String keys) {
        return "deepspeed:\n  zero_optimization:\n    stage: " + stage + "\n    stage3_param_persistence_threshold: 0\n"
                + keys;
    }

    @Test
    void reduceBucketSizeSetsTheNumberOfReductions(@TempDir Path dir) throws Exception {
        long[] buckets = new long[2];
        List<Double> one = run(config(dir, zero(2, "    reduce_bucket_size: 1000000000\n"), 2),
                s -> buckets[0] = StrategyTestKit.layer(s, PartitionedLayer.class).gradientBucketsLaunched());
        List<Double> perParam = run(config(dir, zero(2, "    reduce_bucket_size: 1\n"), 2),
                s -> buckets[1] = StrategyTestKit.layer(s, PartitionedLayer.class).gradientBucketsLaunched());
        // 3 steps x 2 micro-batches; a bucket larger than the model is launched once per backward, a bucket of one
        // element once per parameter (4 layers x 9 + embedding + final norm + lm_head = 39)
        assertThat(buckets[0]).isEqualTo(3 * 2);
        assertThat(buckets[1]).isEqualTo(3 * 2 * 39);
        StrategyTestKit.assertClose(perParam, one, "reduce_bucket_size 1 vs 1e9");
    }

    @Test
    void overlapCommLeavesReductionsInFlightOnlyWhenOn(@TempDir Path dir) throws Exception {
        int[] inFlight = new int[2];
        List<Double> on = run(config(dir, zero(2, "    overlap_comm: true\n    reduce_bucket_size: 1\n"), 1),
                s -> inFlight[0] = StrategyTestKit.layer(s, PartitionedLayer.class).mostGradientBucketsInFlight());
        List<Double> off = run(config(dir, zero(2, "    overlap_comm: false\n    reduce_bucket_size: 1\n"), 1),
                s -> inFlight[1] = StrategyTestKit.layer(s, PartitionedLayer.class).mostGradientBucketsInFlight());
        assertThat(inFlight[0]).isEqualTo(2);
        assertThat(inFlight[1]).isZero();
        StrategyTestKit.assertClose(off, on, "overlap_comm false vs true");
    }

    @Test
    void noReductionOutlivesItsMicroBatch(@TempDir Path dir) throws Exception {
        // overlap on and one bucket per parameter: buckets are in flight during backward; the last ones of a
        // micro-batch must be finished (their tensors freed) before the next micro-batch's forward starts
        AxolotlConfig c = config(dir, zero(3, "    overlap_comm: true\n    reduce_bucket_size: 1\n"), 3);
        int[] mostAtForward = new int[2];
        int[] mostInFlight = new int[2];
        new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(c, s -> {
            PartitionedLayer sharded = StrategyTestKit.layer(s, PartitionedLayer.class);
            ShardingStrategy watched = new ForwardingStrategy(s) {
                @Override
                public UnitHooks hooks() {
                    return new ForwardingUnitHooks(s.hooks()) {
                        @Override
                        public void beforeForward(ModelUnit unit) {
                            mostAtForward[s.rank()] = Math.max(mostAtForward[s.rank()],
                                    sharded.gradientBucketsInFlight());
                            inner.beforeForward(unit);
                        }
                    };
                }
            };
            try (Trainer t = new Trainer(c, watched, List.of(), 1)) {
                var r = t.fit();
                mostInFlight[s.rank()] = sharded.mostGradientBucketsInFlight();
                return r;
            }
        });
        assertThat(mostInFlight).as("reductions overlapped backward").containsOnly(2);
        assertThat(mostAtForward).as("buckets in flight when a forward started").containsOnly(0);
    }

    @Test
    void prefetchBucketAndLiveParametersBoundWhatIsGathered(@TempDir Path dir) throws Exception {
        long[] peak = new long[3];
        List<Double> none = run(config(dir, zero(3, "    stage3_prefetch_bucket_size: 0\n"), 1),
                s -> peak[0] = StrategyTestKit.layer(s, PartitionedLayer.class).peakGatheredBytes());
        List<Double> far = run(config(dir, zero(3, "    stage3_prefetch_bucket_size: 100000000\n"), 1),
                s -> peak[1] = StrategyTestKit.layer(s, PartitionedLayer.class).peakGatheredBytes());
        List<Double> bounded = run(config(dir, zero(3, "    stage3_prefetch_bucket_size: 100000000\n"
                + "    stage3_max_live_parameters: " + (LAYER * 3 / 2) + "\n"), 1),
                s -> peak[2] = StrategyTestKit.layer(s, PartitionedLayer.class).peakGatheredBytes());
        assertThat(peak[0]).as("no prefetch: one layer at most").isPositive().isLessThanOrEqualTo(4 * LAYER);
        assertThat(peak[1]).as("a large prefetch bucket gathers several units ahead").isGreaterThan(2 * 4 * LAYER);
        assertThat(peak[2]).as("stage3_max_live_parameters bounds it").isLessThanOrEqualTo(4 * (LAYER * 3 / 2))
                .isGreaterThan(4 * LAYER);
        StrategyTestKit.assertClose(far, none, "prefetch 1e8 vs 0");
        StrategyTestKit.assertClose(bounded, none, "max live 1.5 layers vs no prefetch");
    }

    @Test
    void ddpBucketCapSplitsTheAllReduceAndMatchesOneProcess(@TempDir Path dir) throws Exception {
        long[] buckets = new long[1];
        List<Double> ddp = run(config(dir, "ddp_bucket_cap_mb: 1\n", 1),
                s -> buckets[0] = StrategyTestKit.layer(s, DdpLayer.class).gradientBucketsLaunched());
        // 2.67 MB of gradients in 1 MiB buckets: 3 per step
        assertThat(buckets[0]).isEqualTo(3 * 3);
        List<Double> single = new ArrayList<>();
        AxolotlConfig c = config(dir.resolve("one"), "", 2);
        try (Trainer t = new Trainer(c, new SingleProcessStrategy(), List.of(new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                single.add(m.loss());
            }
        }), 1)) {
            t.fit();
        }
        StrategyTestKit.assertClose(ddp, single, "DDP with 1 MiB buckets vs one process");
    }
}
