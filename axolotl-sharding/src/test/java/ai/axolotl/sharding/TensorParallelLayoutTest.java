package ai.axolotl.sharding;

import ai.axolotl.model.DecoderModel;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.runtime.HeldTensorBytes;
import ai.axolotl.sharding.partition.PartitionedLayer;
import ai.axolotl.sharding.partition.ShardedParameter;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.sharding.tp.ActivationTraffic;
import ai.axolotl.sharding.tp.ActivationTraffic.Kind;
import ai.axolotl.sharding.tp.TensorParallelism;
import ai.axolotl.train.Trainer;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What tensor parallel holds and sends, measured on real runs (tp 2, ranks as threads over Gloo): each rank's
 * parameters, read from the tensors it holds, are half of every TP-split parameter plus the whole norms; and the
 * activation collectives per micro-batch are exactly the layout's count. Composed with FSDP2 (dp_shard 2 x tp 2),
 * each rank's fp32 master partitions are half (in rows) of its tensor-parallel slices.
 */
class TensorParallelLayoutTest {
    private static final int STEPS = 3;
    private static final int ACCUMULATION = 2;

    private static AxolotlConfig config(Path dir, boolean sequenceParallel) throws Exception {
        StrategyTestKit.fixture(dir, false, 262);
        String yaml = "base_model: " + dir.resolve("model") + "\nreinit_weights: true\n"
                + "datasets:\n  - path: " + dir.resolve("data.jsonl") + "\n    type: completion\n"
                + "sequence_len: 48\nsample_packing: true\nmicro_batch_size: 1\n"
                + "gradient_accumulation_steps: " + ACCUMULATION + "\nmax_steps: " + STEPS + "\n"
                + "learning_rate: 0.01\noptimizer: adamw_torch\nseed: 11\nsave_strategy: 'no'\n"
                + "output_dir: " + dir.resolve("out") + "\ntensor_parallel_size: 2\n"
                + "tensor_parallel_sequence_parallel: " + sequenceParallel + "\n";
        Path yml = dir.resolve("tp.yml");
        Files.writeString(yml, yaml);
        return ConfigLoader.load(yml, Map.of()).config();
    }

    private record RankFacts(long parameterBytes, ActivationTraffic traffic) {}

    private static List<RankFacts> train(AxolotlConfig config) {
        return new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(config, s -> {
            try (Trainer t = new Trainer(config, s, List.of(), 1)) {
                t.fit();
                TensorParallelism tp = StrategyTestKit.modelParallelLayer(s, TensorParallelism.class);
                HeldTensorBytes held = new HeldTensorBytes();
                for (Tensor p : StrategyTestKit.layer(s, DataParallelLayer.class).model().parameters().values()) {
                    held.add(p);
                }
                return new RankFacts(held.total(), tp.activationTraffic());
            }
        });
    }

    @Test
    void eachRankHoldsHalfOfEverySplitParameterAndTheWholeNorms(@TempDir Path dir) throws Exception {
        ModelConfig shape = StrategyTestKit.model(false, 262);
        long split = 0;
        long replicated = 0;
        for (String name : shape.parameterNames()) {
            long n = 1;
            for (long d : shape.parameterShape(name)) {
                n *= d;
            }
            if (shape.spec(name).tensorParallel().sharded()) {
                split += n * 4;
            } else {
                replicated += n * 4;
            }
        }
        List<RankFacts> facts = train(config(dir, true));
        for (RankFacts f : facts) {
            assertThat(f.parameterBytes()).as("parameter bytes held by a rank under tp 2")
                    .isEqualTo(split / 2 + replicated);
        }
    }

    /**
     * Sequence parallel, per micro-batch: each decoder layer all-gathers before attention and MLP and
     * reduce-scatters after them, the embedding reduce-scatters and the head all-gathers; backward runs the
     * conjugates. So 4L + 2 all-gathers and 4L + 2 reduce-scatters of a full [B, T, hidden] tensor, no all-reduce.
     * Without sequence parallel: 4L + 2 all-reduces instead.
     */
    @Test
    void activationCollectivesMatchTheLayoutsCount(@TempDir Path dir) throws Exception {
        ModelConfig shape = StrategyTestKit.model(false, 262);
        long microBatches = (long) STEPS * ACCUMULATION;
        long perCall = 48L * shape.hiddenSize(); // B = 1, T = sequence_len (rows are padded to it when packing)
        long calls = 4L * shape.numHiddenLayers() + 2;
        for (RankFacts f : train(config(dir.resolve("sp"), true))) {
            ActivationTraffic t = f.traffic();
            assertThat(t.calls(Kind.ALL_GATHER)).isEqualTo(calls * microBatches);
            assertThat(t.calls(Kind.REDUCE_SCATTER)).isEqualTo(calls * microBatches);
            assertThat(t.elements(Kind.ALL_GATHER)).isEqualTo(calls * microBatches * perCall);
            assertThat(t.elements(Kind.REDUCE_SCATTER)).isEqualTo(calls * microBatches * perCall);
            assertThat(t.calls(Kind.ALL_REDUCE)).isZero();
        }
        for (RankFacts f : train(config(dir.resolve("nosp"), false))) {
            ActivationTraffic t = f.traffic();
            assertThat(t.calls(Kind.ALL_REDUCE)).isEqualTo(calls * microBatches);
            assertThat(t.elements(Kind.ALL_REDUCE)).isEqualTo(calls * microBatches * perCall);
            assertThat(t.calls(Kind.ALL_GATHER) + t.calls(Kind.REDUCE_SCATTER)).isZero();
        }
    }

    /**
     * FSDP2 over tensor parallel (dp_shard 2 x tp 2, world 4): each rank's master partitions, read from the tensors
     * it holds, are its tensor-parallel slice split by rows over dp_shard (a quarter of every TP-split parameter,
     * half of every norm, padded to whole rows), and no rank keeps a gathered full parameter after the step.
     */
    @Test
    void fsdp2ShardsEachTensorParallelSliceOverDpShard(@TempDir Path dir) throws Exception {
        config(dir, true); // the fixture and the tp 2 run's file
        Path yml = Files.writeString(dir.resolve("fsdp-tp.yml"), Files.readString(dir.resolve("tp.yml"))
                + Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"));
        AxolotlConfig config = ConfigLoader.load(yml, Map.of()).config();
        ModelConfig shape = StrategyTestKit.model(false, 262);
        long expected = 0;
        for (String name : shape.parameterNames()) {
            long[] global = shape.parameterShape(name);
            long[] local = global.clone();
            int dim = shape.spec(name).tensorParallel().shardDim();
            if (dim >= 0) {
                local[dim] /= 2;
            }
            long rowElements = local.length == 1 ? 1 : local[1];
            expected += (local[0] + 1) / 2 * rowElements * 4;
        }
        List<long[]> held = new ThreadLauncher(4, Duration.ofSeconds(120), Strategies::create).launch(config, s -> {
            try (Trainer t = new Trainer(config, s, List.of(), 1)) {
                t.fit();
                PartitionedLayer fsdp = StrategyTestKit.layer(s, PartitionedLayer.class);
                HeldTensorBytes shards = new HeldTensorBytes();
                long gathered = 0;
                for (ShardedParameter p : fsdp.sharded().values()) {
                    shards.add(p.shard());
                    gathered += p.present() && !p.keepsFull() ? 1 : 0;
                }
                return new long[] {shards.total(), gathered};
            }
        });
        long perRank = expected;
        assertThat(held).hasSize(4).allSatisfy(h -> {
            assertThat(h[0]).as("master partition bytes held by a rank of dp_shard 2 x tp 2").isEqualTo(perRank);
            assertThat(h[1]).as("full parameters still gathered after training").isZero();
        });
    }
}
