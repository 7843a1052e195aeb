package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.sharding.cp.ContextParallelism;
import ai.axolotl.sharding.cp.GatheredKvAttention;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Context parallel passes the strategy kit unchanged (loss every step 1e-5, eval loss 1e-5, final weights 1e-4,
 * save/crash/resume, tied and untied) alone and composed: cp 2 and cp 4, cp 2 x tp 2, FSDP2 over dp_shard x cp,
 * HSDP (dp_replicate 2 x cp 2), ZeRO-3 x cp 2, DDP x cp 2, with activation checkpointing; the kit's packed rows
 * hold several documents of lengths that divide by nothing, so documents straddle the chunk boundaries.
 */
class ContextParallelParityTest {
    @Test
    void cp2MatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording("", built).contextParallel(2).assertParity(dir, 2);
        assertThat(built).contains("ddp+cp@2");
    }

    @Test
    void cp4MatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, "").contextParallel(4).resumeAt(4).assertParity(dir, 4);
    }

    @Test
    void cp2WithTensorParallel2MatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording("", built).contextParallel(2).tensorParallel(2).resumeAt(4).assertParity(dir, 4);
        assertThat(built).contains("cp+tp@4");
    }

    /** Recomputed layers gather the keys and values again (their cuts re-recorded): still the one-process curve. */
    @Test
    void withActivationCheckpointingMatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, "gradient_checkpointing: true\n").contextParallel(2)
                .assertParity(dir, 2);
    }

    /** FSDP2 shards over dp_shard x cp (torchtitan's dp_shard_cp): four partitions at dp_shard 2 x cp 2. */
    @Test
    void fsdp2OverDpShardTimesCpMatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording(Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"), built).contextParallel(2)
                .resumeAt(4)
                .assertParity(dir, 4);
        assertThat(built).contains("fsdp2+cp@4");
    }

    @Test
    void hsdpDpReplicate2TimesCp2MatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, Fsdp2ParityTest.fsdp("  reshard_after_forward: false\n")
                + "dp_replicate_size: 2\n").contextParallel(2).resumeAt(4).assertParity(dir, 4);
    }

    @Test
    void zero3TimesCp2MatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, ZeroParityTest.deepspeed(3)).contextParallel(2).resumeAt(4)
                .assertParity(dir, 4);
    }

    @Test
    void ddpTimesCp2MatchesOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, "").contextParallel(2).resumeAt(4).assertParity(dir, 4);
    }

    /** Axolotl's N-D example's shape (qwen3-8b-fsdp-tp-cp.yaml): dp_shard 2 x cp 2 x tp 2 over FSDP2, world 8. */
    @Test
    void theNdExampleShapeDpShard2Cp2Tp2MatchesOneProcess(@TempDir Path dir) throws Exception {
        List<String> built = new CopyOnWriteArrayList<>();
        StrategyTestKit.recording(Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"), built).contextParallel(2)
                .tensorParallel(2).resumeAt(8).assertParity(dir, 8);
        assertThat(built).contains("fsdp2+cp+tp@8");
    }

    /**
     * bf16 compute (the gathered keys and values in bf16, their gradients reduce-scattered in fp32) follows the
     * one-process bf16 curve within bf16 rounding (2e-2, as for tensor parallel, ZeRO-3 and FSDP2) and learns.
     */
    @Test
    void bf16TracksOneProcess(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, "bf16: true\n").contextParallel(2);
        StrategyTestKit.fixture(dir, false);
        List<Double> one = kit.run(kit.config(dir, 1, dir.resolve("one"), Map.of()), 0, -1).get(0);
        List<Double> cp = kit.run(kit.config(dir, 2, dir.resolve("cp"), Map.of()), 2, -1).get(0);
        assertThat(cp).hasSize(one.size());
        for (int i = 0; i < one.size(); i++) {
            assertThat(cp.get(i)).as("step " + (i + 1)).isCloseTo(one.get(i), within(2e-2));
        }
        assertThat(cp.get(cp.size() - 1)).isLessThan(cp.get(0) - 0.1);
    }

    /**
     * Axolotl requires micro_batch_size 1 with packing under cp (ring-flash-attn takes one cu_seqlens per call);
     * the mask here is per row, so two packed rows per micro-batch are exact too.
     */
    @Test
    void microBatchesOfTwoPackedRowsAreExact(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, "").contextParallel(2);
        StrategyTestKit.fixture(dir, false);
        Map<String, String> two = Map.of("micro_batch_size", "2", "gradient_accumulation_steps", "2");
        List<Double> one = kit.run(kit.config(dir, 1, dir.resolve("one"), two), 0, -1).get(0);
        assertThat(one).hasSize(10);
        List<List<Double>> cp = kit.run(kit.config(dir, 2, dir.resolve("cp"), two), 2, -1);
        StrategyTestKit.assertClose(cp.get(0), one, "cp 2 rank 0");
        StrategyTestKit.assertClose(cp.get(1), one, "cp 2 rank 1");
        StrategyTestKit.assertSameWeights(dir.resolve("one"), dir.resolve("cp"), "micro batch 2");
    }

    /**
     * Rows of one short example padded to 96 tokens (pad_to_sequence_len, no packing): rank 1 holds tokens 24-71,
     * all padding for most rows, so its shard has no label token. Losses, gradients and eval losses stay finite
     * and equal one process's (axolotl#3026: eval_loss NaN from 0/0 on such a rank).
     */
    @Test
    void aShardOfOnlyPaddingGivesFiniteLossesAndTheOneProcessCurve(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, "").contextParallel(2);
        StrategyTestKit.fixture(dir, false);
        Map<String, String> padded = Map.of("sequence_len", "96", "sample_packing", "false",
                "pad_to_sequence_len", "true");
        List<Double> one = kit.run(kit.config(dir, 1, dir.resolve("one"), padded), 0, -1).get(0);
        List<Double> oneEval = List.copyOf(kit.lastEvalLosses().get(0));
        assertThat(one).hasSize(10).allSatisfy(l -> assertThat(l).isFinite());
        List<List<Double>> cp = kit.run(kit.config(dir, 2, dir.resolve("cp"), padded), 2, -1);
        for (int r = 0; r < 2; r++) {
            StrategyTestKit.assertClose(cp.get(r), one, "padded rows, cp 2 rank " + r);
            StrategyTestKit.assertEvalClose(kit.lastEvalLosses().get(r), oneEval, "padded rows, cp 2 rank " + r);
        }
        StrategyTestKit.assertSameWeights(dir.resolve("one"), dir.resolve("cp"), "padded rows");
    }

    /**
     * Only key/value heads travel: per micro-batch each layer all-gathers [B, 2 x kv_heads, T, head_dim] once (once
     * more when recomputed) and reduce-scatters its gradient once; the elements match that count exactly (the
     * kit's model: 2 layers, 2 kv heads of 8 against 4 query heads). Each query chunk computes the scores of only
     * the keys up to its end: 0.625 of the dense scores on both ranks.
     */
    @Test
    void keysAndValuesAreTheOnlyTrafficCountedAsTheyRun(@TempDir Path dir) throws Exception {
        for (boolean recompute : new boolean[] {false, true}) {
            Path d = dir.resolve("recompute-" + recompute);
            StrategyTestKit kit = new StrategyTestKit(Strategies::create,
                    recompute ? "gradient_checkpointing: true\n" : "").contextParallel(2);
            StrategyTestKit.fixture(d, false);
            AxolotlConfig c = kit.config(d, 2, d.resolve("out"), Map.of("max_steps", "2"));
            // read after the last optimizer step, before the final evaluation (which gathers too, without grad)
            List<long[]> counts = new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(c, s -> {
                long[][] n = new long[1][];
                TrainingListener atLastStep = new TrainingListener() {
                    @Override
                    public void onStep(StepMetrics m) {
                        if (m.step() == 2) {
                            GatheredKvAttention k = ((ParallelPlan) s).contextParallel()
                                    .map(ContextParallelism::kernel).orElseThrow();
                            n[0] = new long[] {k.gathers(), k.gatheredElements(), k.reduceScatters(),
                                k.reducedElements(), k.attendedScores(), k.denseScores()};
                        }
                    }
                };
                try (Trainer t = new Trainer(c, s, List.of(atLastStep), 1)) {
                    t.fit();
                    return n[0];
                }
            });
            var model = StrategyTestKit.model(false);
            int layers = model.numHiddenLayers();
            int micro = 2 * 4; // 2 steps x accumulation 4 (global batch 4 rows, one data-parallel rank)
            for (long[] n : counts) {
                assertThat(n[0]).as("gathers, recompute " + recompute).isEqualTo((long) layers * micro
                        * (recompute ? 2 : 1));
                assertThat(n[2]).as("reduce-scatters").isEqualTo((long) layers * micro);
                // each gather holds the whole row's (at most 48 tokens) keys and values of the kv heads only
                long perToken = 2L * model.numKeyValueHeads() * model.headDim();
                assertThat(n[1] % perToken).isZero();
                assertThat(n[1]).as("kv heads only, never the repeated query heads").isLessThanOrEqualTo(
                        n[0] * perToken * 48);
                assertThat(n[1]).as("one gathered tensor per reduce-scatter (recompute: one more)")
                        .isEqualTo(n[3] * (recompute ? 2 : 1));
                // each chunk against only the keys up to its end: (2cp + 1) / 4cp of the dense scores at cp 2
                assertThat(n[4]).as("attention scores computed").isPositive();
                assertThat((double) n[4] / n[5]).as("trimmed against dense scores").isEqualTo(0.625);
            }
            System.out.printf("cp 2, recompute %s: %d gathers of %d elements, %d reduce-scatters per rank in 2 steps"
                    + "%n", recompute, counts.get(0)[0], counts.get(0)[1], counts.get(0)[2]);
        }
    }
}
