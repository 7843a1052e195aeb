package ai.axolotl.bench;

import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.model.CausalLmLoss;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.LlamaConfig;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.train.GradientClipping;
import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainerBuilder;
import ai.axolotl.train.TrainingListener;
import ai.axolotl.train.TrainingStrategy;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
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
    private final Supplier<TrainingStrategy> strategy;
    private final int world;

    /**
     * @param shape llama-tiny or llama-small
     * @param steps optimizer steps to time
     * @param threads intra-op threads
     * @param seqLen tokens per row (0: the shape's)
     * @param microBatch rows per micro-batch (0: the shape's)
     * @param strategyName name reported
     * @param strategy the strategy to train with
     * @param world ranks
     */
    public TrainerBenchmark(String shape, int steps, int threads, int seqLen, int microBatch, String strategyName,
                            Supplier<TrainingStrategy> strategy, int world) {
        this.shape = shape;
        this.steps = steps;
        this.threads = threads;
        this.seqLen = seqLen > 0 ? seqLen : shape.equals("llama-small") ? 512 : 256;
        this.microBatch = microBatch > 0 ? microBatch : shape.equals("llama-small") ? 4 : 8;
        this.strategyName = strategyName;
        this.strategy = strategy;
        this.world = world;
    }

    /** Runs both loops and returns the JSON line. */
    public String run() throws IOException {
        Natives.setThreads(threads);
        LlamaConfig config = LlamaConfig.shape(shape);
        Path dir = Files.createTempDirectory("axolotl-bench");
        try {
            Files.createDirectories(dir.resolve("model"));
            config.write(dir.resolve("model/config.json"));
            List<int[]> rows = randomRows(config.vocabSize(), steps * microBatch);
            writeRows(dir.resolve("data.jsonl"), rows);
            StepTimes bare = bareLoop(config, rows);
            StepTimes trainer = new StepTimes(WARMUP);
            List<Double> losses = new ArrayList<>();
            TrainResult result;
            long params;
            try (Trainer t = new TrainerBuilder()
                    .baseModel(dir.resolve("model").toString()).reinitWeights(true)
                    .dataset(dir.resolve("data.jsonl").toString(), null)
                    .sequenceLen(seqLen).microBatchSize(microBatch).gradientAccumulationSteps(1)
                    .maxSteps(steps).learningRate(3e-4).lrScheduler("constant").optimizer("adamw_torch")
                    .set("adam_beta1", 0.9).set("adam_beta2", 0.95).set("adam_epsilon", 1e-8).weightDecay(0.01)
                    .maxGradNorm(1.0).seed(42).set("save_strategy", "no").loggingSteps(Math.max(1, steps))
                    .outputDir(dir.resolve("out").toString())
                    .threads(threads).strategy(strategy)
                    .listener(new TrainingListener() {
                        @Override
                        public void onStep(StepMetrics m) {
                            trainer.add(m.stepMillis());
                            losses.add(m.loss());
                        }
                    })
                    .build()) {
                result = t.fit();
            }
            try (LlamaModel m = LlamaModel.initialise(config, 1)) {
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
            out.put("tokens_per_s_per_rank", Math.round(tokensPerStep / (trainer.median() / 1000.0)));
            out.put("step_ms", trainer.summary());
            out.put("bare_libtorch_step_ms", bare.summary());
            out.put("trainer_vs_bare", Math.round(trainer.median() / bare.median() * 1000) / 1000.0);
            out.put("peak_rss_mb", ProcessMemory.peakRssBytes() / (1024 * 1024));
            out.put("final_loss", Math.round(result.finalLoss() * 10000) / 10000.0);
            List<Double> rounded = new ArrayList<>();
            losses.forEach(l -> rounded.add(Math.round(l * 10000) / 10000.0));
            out.put("losses", rounded);
            return new ObjectMapper().writeValueAsString(out);
        } finally {
            ai.axolotl.train.Checkpoints.deleteTree(dir);
        }
    }

    private List<int[]> randomRows(int vocab, int n) {
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

    private static void writeRows(Path file, List<int[]> rows) throws IOException {
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

    private StepTimes bareLoop(LlamaConfig config, List<int[]> rows) {
        StepTimes times = new StepTimes(WARMUP);
        try (LlamaModel model = LlamaModel.initialise(config, 42)) {
            ai.axolotl.config.OptimizerSettings s = new ai.axolotl.config.OptimizerSettings("adamw", 3e-4, 0.01, 0.9,
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
                            new org.bytedeco.pytorch.Scalar((double) mb.labelTokens()));
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
