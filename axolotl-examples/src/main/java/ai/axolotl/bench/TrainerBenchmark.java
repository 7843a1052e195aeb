package ai.axolotl.bench;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.CausalLmLoss;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.sharding.ParallelPlan;
import ai.axolotl.sharding.partition.PartitionedLayer;
import ai.axolotl.sharding.tp.TensorParallelism;
import ai.axolotl.train.Checkpoints;
import ai.axolotl.train.GradientClipping;
import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.RankLauncher;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainerBuilder;
import ai.axolotl.train.TrainingListener;
import ai.axolotl.train.ShardingStrategy;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * {@code axolotl bench}: trains a benchmark shape on random tokens through the real {@link Trainer} and, in the
 * same process, through a bare libtorch loop over the same model and batch shape (whole-model forward, loss,
 * backward, clipping, AdamW), and reports both.
 */
public final class TrainerBenchmark {
    /** Steps excluded from the timing summary. */
    static final int WARMUP = 3;
    private final String shape;
    private final int steps;
    private final int threads;
    private final int seqLen;
    private final int microBatch;
    private final String strategyName;
    private final Supplier<ShardingStrategy> strategy;
    private final int world;
    private final IntFunction<RankLauncher> launcher;

    /**
     * @param shape llama-tiny or llama-small
     * @param steps optimizer steps to time
     * @param threads intra-op threads
     * @param seqLen tokens per row (0: the shape's)
     * @param microBatch rows per micro-batch (0: the shape's)
     * @param strategyName name reported
     * @param strategy the strategy to train with
     * @param world ranks
     * @param launcher runs a given number of ranks (world &gt; 1, and the world-1 baseline)
     */
    public TrainerBenchmark(String shape, int steps, int threads, int seqLen, int microBatch, String strategyName,
                            Supplier<ShardingStrategy> strategy, int world,
                            IntFunction<RankLauncher> launcher) {
        this.shape = shape;
        this.steps = steps;
        this.threads = threads;
        this.seqLen = seqLen > 0 ? seqLen : shape.equals("llama-small") ? 512 : 256;
        this.microBatch = microBatch > 0 ? microBatch : shape.equals("llama-small") ? 4 : 8;
        this.strategyName = strategyName;
        this.strategy = strategy;
        this.world = world;
        this.launcher = launcher;
    }

    /** Runs both loops and returns the JSON line. */
    public String run() throws IOException {
        Natives.setThreads(threads);
        ModelConfig config = ModelConfig.shape(shape);
        Path dir = Files.createTempDirectory("axolotl-bench");
        try {
            Files.createDirectories(dir.resolve("model"));
            config.write(dir.resolve("model/config.json"));
            List<int[]> rows = randomRows(config.vocabSize(), steps * microBatch * world, seqLen);
            writeRows(dir.resolve("data.jsonl"), rows);
            boolean tensorParallel = strategyName.equals("tp") || strategyName.endsWith("+tp");
            // every strategy but data parallel itself is timed against data parallel at the same world
            boolean againstDdp = strategyName.startsWith("zero") || strategyName.equals("fsdp2") || tensorParallel;
            StepTimes bare = world == 1 && !againstDdp ? bareLoop(config, rows) : null;
            WorldRun baseline = world > 1 && !againstDdp ? trainAt(dir, 1, null) : null;
            Map<String, Object> keys = strategyKeys(strategyName, world);
            // sharded strategies against data parallel: runs alternated ABAB, each run's warm-up dropped, pooled
            WorldRun run;
            WorldRun ddp = null;
            List<Map<String, Object>> rounds = new ArrayList<>();
            if (againstDdp) {
                List<WorldRun> ddpRuns = new ArrayList<>();
                List<WorldRun> runs = new ArrayList<>();
                for (int round = 0; round < ROUNDS; round++) {
                    ddpRuns.add(trainAt(dir, world, null));
                    runs.add(trainAt(dir, world, keys));
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("ddp_median_ms", StepTimes.round(ddpRuns.get(round).times.median()));
                    r.put(strategyName + "_median_ms", StepTimes.round(runs.get(round).times.median()));
                    rounds.add(r);
                }
                ddp = pooledRun(ddpRuns);
                run = pooledRun(runs);
            } else {
                run = trainAt(dir, world, keys);
            }
            // the machine's own ceiling: the same ranks training independently (no communication) at once
            WorldRun independent = world > 1 && !againstDdp ? trainIndependently(dir, world) : null;
            long params;
            try (CausalLm m = DecoderModel.initialise(config, 1)) {
                params = m.parameterCount();
            }
            long tokensPerStep = (long) microBatch * seqLen;
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("shape", shape);
            out.put("params", params);
            out.put("world", world);
            out.put("strategy", strategyName);
            out.put("threads_per_rank", threads);
            out.put("seq_len", seqLen);
            out.put("micro_batch", microBatch);
            long perRank = Math.round(tokensPerStep / (run.times.median() / 1000.0));
            out.put("tokens_per_s_per_rank", perRank);
            out.put("step_ms", run.times.summary());
            out.put("model_state_bytes", run.modelStateBytes);
            if (bare != null) {
                out.put("bare_libtorch_step_ms", bare.summary());
                out.put("trainer_vs_bare", Math.round(run.times.median() / bare.median() * 1000) / 1000.0);
            }
            if (run.exposedComm != null && !run.exposedComm.measured().isEmpty()) {
                out.put("exposed_comm_ms", run.exposedComm.summary());
            }
            if (run.traffic != null) {
                out.put("tp_activation_collectives_per_step", run.traffic);
                out.put("tp_activation_collectives_expected_per_step", expectedTraffic(config));
                long ddpRows = (long) microBatch * world;
                long tpRows = (long) microBatch * (world / ((Number) keys.get("tensor_parallel_size")).intValue());
                out.put("global_rows_per_step", Map.of("ddp", ddpRows, strategyName, tpRows));
                out.put("tokens_per_s_world", Map.of(
                        "ddp", Math.round(ddpRows * seqLen / (ddp.times.median() / 1000.0)),
                        strategyName, Math.round(tpRows * seqLen / (run.times.median() / 1000.0))));
            }
            if (ddp != null) {
                out.put("ddp_step_ms", ddp.times.summary());
                out.put("ddp_model_state_bytes", ddp.modelStateBytes);
                out.put("step_time_vs_ddp", Math.round(run.times.median() / ddp.times.median() * 1000) / 1000.0);
                out.put("order", "ABAB (ddp, " + strategyName + ") x " + ROUNDS + "; medians over the pooled timed steps");
                out.put("rounds", rounds);
            }
            if (baseline != null) {
                long one = Math.round(tokensPerStep / (baseline.times.median() / 1000.0));
                out.put("world1_tokens_per_s", one);
                out.put("world1_step_ms", baseline.times.summary());
                out.put("scaling_efficiency", Math.round((double) perRank / one * 1000) / 1000.0);
                long indep = Math.round(tokensPerStep / (independent.times.median() / 1000.0));
                out.put("independent_ranks_tokens_per_s", indep);
                out.put("machine_parallel_efficiency", Math.round((double) indep / one * 1000) / 1000.0);
                out.put("efficiency_vs_independent", Math.round((double) perRank / indep * 1000) / 1000.0);
            }
            out.put("peak_rss_mb", ProcessMemory.peakRssBytes() / (1024 * 1024));
            out.put("allocator", ProcessMemory.nativeAllocator());
            out.put("final_loss", Math.round(run.result.finalLoss() * 10000) / 10000.0);
            List<Double> rounded = new ArrayList<>();
            run.losses.forEach(l -> rounded.add(Math.round(l * 10000) / 10000.0));
            out.put("losses", rounded);
            return new ObjectMapper().writeValueAsString(out);
        } finally {
            Checkpoints.deleteTree(dir);
        }
    }

    /**
     * The config keys of a bench strategy: {@code zeroN}, {@code fsdp2}, {@code tp} (tensor parallel over the
     * world), and {@code <layer>+tp} (tensor parallel 2 over the data-parallel layer {@code ddp}, {@code fsdp2} or
     * {@code zeroN} across world/2); null for data parallel.
     */
    static Map<String, Object> strategyKeys(String name, int world) {
        if (name.equals("tp")) {
            return Map.of("tensor_parallel_size", world);
        }
        if (name.endsWith("+tp")) {
            Map<String, Object> keys = new LinkedHashMap<>();
            Map<String, Object> layer = strategyKeys(name.substring(0, name.length() - 3), world);
            if (layer != null) {
                keys.putAll(layer);
            }
            keys.put("tensor_parallel_size", 2);
            return keys;
        }
        if (name.startsWith("zero")) {
            return Map.of("deepspeed", Map.of("zero_optimization",
                    Map.of("stage", Integer.parseInt(name.substring(4)), "overlap_comm", true)));
        }
        if (name.equals("fsdp2")) {
            // transformer_layer_cls_to_wrap left out: the model's own decoder-layer class
            return Map.of("fsdp_version", 2, "fsdp_config", Map.of("reshard_after_forward", true));
        }
        return null;
    }

    /** Alternated rounds of data parallel and a sharded strategy. */
    static final int ROUNDS = 2;

    /**
     * The tensor-parallel layout's activation collectives per optimizer step (one micro-batch per step here), with
     * sequence parallelism: per decoder layer 2 all-gathers and 2 reduce-scatters forward and the same backward,
     * plus the embedding's reduce-scatter and the head's all-gather (and their conjugates), each of B x T x hidden.
     */
    private Map<String, Map<String, Long>> expectedTraffic(ModelConfig config) {
        long calls = 4L * config.numHiddenLayers() + 2;
        long elements = calls * microBatch * seqLen * config.hiddenSize();
        Map<String, Map<String, Long>> m = new LinkedHashMap<>();
        m.put("all_gather", Map.of("calls", calls, "elements", elements));
        m.put("reduce_scatter", Map.of("calls", calls, "elements", elements));
        m.put("all_reduce", Map.of("calls", 0L, "elements", 0L));
        return m;
    }

    private static WorldRun pooledRun(List<WorldRun> runs) {
        List<StepTimes> times = new ArrayList<>();
        List<StepTimes> comm = new ArrayList<>();
        for (WorldRun r : runs) {
            times.add(r.times);
            if (r.exposedComm != null) {
                comm.add(r.exposedComm);
            }
        }
        WorldRun last = runs.get(runs.size() - 1);
        return new WorldRun(StepTimes.pooled(times), last.losses, last.result, last.modelStateBytes,
                comm.isEmpty() ? null : StepTimes.pooled(comm), last.traffic);
    }

    /** One timed training run at a world size; {@code traffic}: tensor parallel's activation collectives per step. */
    private record WorldRun(StepTimes times, List<Double> losses, TrainResult result, long modelStateBytes,
                            StepTimes exposedComm, Map<String, Map<String, Long>> traffic) {
        WorldRun(StepTimes times, List<Double> losses, TrainResult result, long modelStateBytes,
                 StepTimes exposedComm) {
            this(times, losses, result, modelStateBytes, exposedComm, null);
        }
    }

    /** The one training config every timed run uses (the independent-ranks baseline included). */
    private TrainerBuilder runConfig(Path dir, String out) {
        return new TrainerBuilder()
                .baseModel(dir.resolve("model").toString()).reinitWeights(true)
                .dataset(dir.resolve("data.jsonl").toString(), null)
                .sequenceLen(seqLen).microBatchSize(microBatch).gradientAccumulationSteps(1)
                .maxSteps(steps).learningRate(3e-4).lrScheduler("constant").optimizer("adamw_torch")
                .set("adam_beta1", 0.9).set("adam_beta2", 0.95).set("adam_epsilon", 1e-8).weightDecay(0.01)
                .maxGradNorm(1.0).seed(42).set("save_strategy", "no").loggingSteps(Math.max(1, steps))
                .outputDir(dir.resolve(out).toString()).threads(threads);
    }

    private WorldRun trainAt(Path dir, int ranks, Map<String, Object> extraKeys) {
        StepTimes times = new StepTimes(WARMUP);
        List<Double> losses = new ArrayList<>();
        TrainerBuilder b = runConfig(dir, "out-" + ranks);
        if (extraKeys != null) {
            extraKeys.forEach(b::set);
        }
        AxolotlConfig cfg = b.buildConfig();
        TrainingListener timer = new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                times.add(m.stepMillis());
                losses.add(m.loss());
            }
        };
        if (ranks == 1 && world == 1 && extraKeys == null) {
            try (ShardingStrategy s = strategy.get(); Trainer t = new Trainer(cfg, s, List.of(timer), threads)) {
                TrainResult r = t.fit();
                return new WorldRun(times, losses, r, s.modelStateBytes(), null);
            }
        }
        long[] bytes = new long[1];
        List<Map<String, Map<String, Long>>> traffic = new ArrayList<>();
        StepTimes exposed = new StepTimes(WARMUP);
        List<TrainResult> results = launcher.apply(ranks).launch(cfg, s -> {
            List<TrainingListener> ls = s.rank() == 0 ? List.of(timer) : List.of();
            try (Trainer t = new Trainer(cfg, s, ls, threads)) {
                TrainResult r = t.fit();
                if (s.rank() == 0) {
                    bytes[0] = s.modelStateBytes();
                    ParallelPlan.layer(s, PartitionedLayer.class)
                            .ifPresent(p -> p.exposedCommMillisPerStep().forEach(exposed::add));
                    ParallelPlan.modelParallelLayer(s, TensorParallelism.class)
                            .ifPresent(tp -> traffic.add(tp.activationTraffic().perStep(steps)));
                }
                return r;
            }
        });
        return new WorldRun(times, losses, results.get(0), bytes[0], exposed,
                traffic.isEmpty() ? null : traffic.get(0));
    }

    /** {@code ranks} single-process trainings at once, as threads, without any communication between them. */
    private WorldRun trainIndependently(Path dir, int ranks) {
        RankLauncher l = new ThreadLauncher(ranks,
                Duration.ofSeconds(600), (c, g) -> new SingleProcessStrategy());
        List<Double> losses = new ArrayList<>();
        AxolotlConfig cfg = runConfig(dir, "out-independent").buildConfig();
        List<StepTimes> perRank = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            perRank.add(new StepTimes(WARMUP)); // each rank's own warm-up steps are dropped
        }
        java.util.concurrent.atomic.AtomicInteger runs = new java.util.concurrent.atomic.AtomicInteger();
        List<TrainResult> results = l.launch(cfg, s -> {
            int run = runs.getAndIncrement(); // each a single process of rank 0: numbered here
            StepTimes mine = perRank.get(run);
            TrainingListener timer = new TrainingListener() {
                @Override
                public void onStep(StepMetrics m) {
                    mine.add(m.stepMillis());
                }
            };
            // independent runs: each its own output_dir (one run owns an output_dir)
            AxolotlConfig own = cfg.withCheckpoint(cfg.checkpoint().withOutputDir(
                    dir.resolve("out-independent-" + run).toString()));
            try (Trainer t = new Trainer(own, s, List.of(timer), threads)) {
                return t.fit();
            }
        });
        return new WorldRun(StepTimes.pooled(perRank), losses, results.get(0), 0, null);
    }

    /** {@code n} rows of {@code seqLen} token ids drawn uniformly (fixed seed): the benchmarks' data. */
    static List<int[]> randomRows(int vocab, int n, int seqLen) {
        Random r = new Random(1234);
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] ids = new int[seqLen];
            for (int j = 0; j < seqLen; j++) {
                ids[j] = r.nextInt(vocab);
            }
            rows.add(ids);
        }
        return rows;
    }

    /** Writes rows as pre-tokenized JSONL ({@code input_ids}). */
    static void writeRows(Path file, List<int[]> rows) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int[] row : rows) {
            b.append("{\"input_ids\": [");
            for (int i = 0; i < row.length; i++) {
                if (i > 0) {
                    b.append(',');
                }
                b.append(row[i]);
            }
            b.append("]}\n");
        }
        Files.writeString(file, b.toString());
    }

    private StepTimes bareLoop(ModelConfig config, List<int[]> rows) {
        StepTimes times = new StepTimes(WARMUP);
        try (CausalLm model = DecoderModel.initialise(config, 42)) {
            OptimizerSettings s = new OptimizerSettings("adamw", 3e-4, 0.01, 0.9,
                    0.95, 1e-8, 1.0);
            Optimizer opt = OptimizerFactory.create(s, model.parameters());
            TensorVector params = new TensorVector(model.parameters().values().toArray(new Tensor[0]));
            for (int step = 0; step < steps; step++) {
                long t0 = System.nanoTime();
                try (PointerScope scope = new PointerScope()) {
                    List<PackedRow> batch = new ArrayList<>();
                    for (int i = 0; i < microBatch; i++) {
                        int[] ids = rows.get(step * microBatch + i);
                        int[] pos = new int[ids.length];
                        int[] seg = new int[ids.length];
                        for (int j = 0; j < ids.length; j++) {
                            pos[j] = j;
                            seg[j] = 1;
                        }
                        batch.add(new PackedRow(ids, ids, pos, seg));
                    }
                    MicroBatch mb = MicroBatch.of(batch, 0, 0);
                    ForwardContext ctx = new ForwardContext(mb.positionIds(), mb.segmentIds(), config,
                            ScalarType.Float);
                    Tensor logits = model.logits(mb.inputIds(), ctx);
                    Tensor loss = CausalLmLoss.sum(logits, mb.labels()).div(
                            new Scalar((double) mb.labelTokens()));
                    loss.backward();
                    GradientClipping.clip(params, 1.0);
                    opt.step();
                    opt.zero_grad(true);
                }
                times.add((System.nanoTime() - t0) / 1e6);
            }
            opt.close();
        }
        return times;
    }
}
