package ai.axolotl.sharding.testkit;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.gloo.ProcessGroups;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.Safetensors;
import ai.axolotl.model.adapter.PeftFiles;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.ParallelPlan;
import ai.axolotl.train.EvalResult;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainResult;
import ai.axolotl.sharding.Strategies;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainingListener;
import ai.axolotl.train.ShardingStrategy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The reusable proof that a strategy is correct: a small Llama trained for 10 steps at world sizes 1, 2 and 4
 * (ranks as threads over real Gloo groups) with the same global batch must give the single-process loss curve
 * (max abs diff 1e-5) and final weights (1e-4), with untied and tied embeddings, with a vocabulary (261) that no
 * world size divides; the evaluations on the held-out split (every 5 steps and at the end) must give the
 * single-process eval_loss (1e-5); and save, crash, resume must continue the uninterrupted curve. Every strategy
 * passes it unchanged.
 */
public final class StrategyTestKit {
    /** The data-parallel layer of a strategy built by {@code Strategies}, as {@code type}; fails the test otherwise. */
    public static <T> T layer(ShardingStrategy s, Class<T> type) {
        return ParallelPlan.layer(s, type).orElseThrow(() -> new AssertionError(
                "strategy " + s.name() + " has no data-parallel layer of type " + type.getSimpleName()));
    }

    /** The model parallelism of a strategy built by {@code Strategies}, as {@code type}; fails the test otherwise. */
    public static <T> T modelParallelLayer(ShardingStrategy s, Class<T> type) {
        return ParallelPlan.modelParallelLayer(s, type).orElseThrow(() -> new AssertionError(
                "strategy " + s.name() + " has no model parallelism of type " + type.getSimpleName()));
    }

    /** Steps per run. */
    public static final int STEPS = 10;
    /** Loss tolerance (fp32). */
    public static final double LOSS_TOLERANCE = 1e-5;
    /** Final weight tolerance (fp32). */
    public static final double WEIGHT_TOLERANCE = 1e-4;
    private static final int GLOBAL_ROWS = 4;
    private final BiFunction<AxolotlConfig, ProcessGroups, ShardingStrategy> strategy;
    private final String extraYaml;
    private final Duration timeout = Duration.ofSeconds(120);
    private final List<List<Double>> evalLosses = new ArrayList<>();
    private int tensorParallel = 1;
    private int contextParallel = 1;
    private int resumeWorld = 2;
    private String family = "llama";
    private int vocabulary = 261;
    private String optimizer = "adamw_torch";
    private double weightTolerance = WEIGHT_TOLERANCE;

    /**
     * @param strategy builds the strategy under test for a rank
     * @param extraYaml config lines the strategy needs (e.g. an fsdp_config block); may be empty
     */
    public StrategyTestKit(BiFunction<AxolotlConfig, ProcessGroups, ShardingStrategy> strategy, String extraYaml) {
        this.strategy = strategy;
        this.extraYaml = extraYaml;
    }

    /**
     * A kit over {@link Strategies#create} that records each strategy built as {@code name@world} in
     * {@code built} (so a test can show which composition ran).
     */
    public static StrategyTestKit recording(String yaml, List<String> built) {
        return new StrategyTestKit((c, g) -> {
            var s = Strategies.create(c, g);
            built.add(s.name() + "@" + g.spec().worldSize());
            return s;
        }, yaml);
    }

    /**
     * Runs every world of the kit with {@code tensor_parallel_size: tp}: the data-parallel ranks (which split the
     * global batch) are then world / tp, and the vocabulary is the smallest multiple of tp from 261.
     */
    public StrategyTestKit tensorParallel(int tp) {
        this.tensorParallel = tp;
        return this;
    }

    /**
     * Runs every world of the kit with {@code context_parallel_size: cp} (with {@link #tensorParallel} too when
     * set): the data-parallel ranks are then world / (tp x cp), and each row is cut over the cp ranks.
     */
    public StrategyTestKit contextParallel(int cp) {
        this.contextParallel = cp;
        return this;
    }

    /**
     * Runs the kit on a tiny model of another family ({@link #model(String, boolean, int)}: {@code mistral},
     * {@code qwen2}, {@code qwen3}, {@code gemma3_text}; {@code llama} by default).
     */
    public StrategyTestKit family(String modelType) {
        this.family = modelType;
        return this;
    }

    /**
     * Another vocabulary size than 261 (e.g. 384, so that the embedding's 12,288 elements are whole blocks of a
     * low-bit optimizer's state).
     */
    public StrategyTestKit vocabulary(int vocab) {
        this.vocabulary = vocab;
        return this;
    }

    /**
     * Runs every world with another {@code optimizer} (the one process too). A low-bit optimizer's final weights
     * are compared at 1e-3 instead of {@link #WEIGHT_TOLERANCE}: a gradient summed in another order (micro-batches
     * on one process, an all-reduce over ranks) differs in its last bits, which can put a quantized moment on the
     * other side of a code boundary; one code of the first moment moves a weight by about lr x the map's gap
     * (~1e-4 per step at the kit's lr 0.01). Losses and evaluations keep {@link #LOSS_TOLERANCE}.
     */
    public StrategyTestKit optimizer(String name) {
        this.optimizer = name;
        this.weightTolerance = name.endsWith("8bit") || name.endsWith("4bit") ? 1e-3 : WEIGHT_TOLERANCE;
        return this;
    }

    /** The world size of the save, crash and resume check (2 unless the mesh needs more ranks). */
    public StrategyTestKit resumeAt(int world) {
        this.resumeWorld = world;
        return this;
    }

    /** The model of the kit: vocab 261 (prime, so no world size divides the first dimension of the embedding). */
    public static ModelConfig model(boolean tied) {
        return model(tied, 261);
    }

    /** The kit's model with another vocabulary size. */
    public static ModelConfig model(boolean tied, int vocab) {
        return ModelConfig.llama(vocab, 32, 48, 2, 4, 2, 256, 1e-5, 10000, tied, "float32");
    }

    /**
     * The kit's model shape in another family, with the family's real config keys: Mistral with a sliding window of
     * 8 (shorter than the kit's rows), Qwen2 with q/k/v biases, Qwen3 with head_dim 16 (q and o not square) and
     * q/k norms, Gemma3 text with head_dim 16, query_pre_attn_scalar 24 and alternating sliding (window 8) and
     * global layers with their own RoPE tables; {@code llama} is {@link #model(boolean, int)}.
     */
    public static ModelConfig model(String family, boolean tied, int vocab) {
        if (family.equals("llama")) {
            return model(tied, vocab);
        }
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("model_type", family);
        c.put("vocab_size", vocab);
        c.put("hidden_size", 32);
        c.put("intermediate_size", 48);
        c.put("num_hidden_layers", 2);
        c.put("num_attention_heads", 4);
        c.put("num_key_value_heads", 2);
        c.put("max_position_embeddings", 256);
        c.put("rms_norm_eps", 1e-5);
        c.put("tie_word_embeddings", tied);
        switch (family) {
            case "mistral" -> c.put("sliding_window", 8);
            case "qwen2" -> c.put("rope_theta", 1_000_000.0);
            case "qwen3" -> c.put("head_dim", 16);
            case "gemma3_text" -> {
                c.put("head_dim", 16);
                c.put("query_pre_attn_scalar", 24);
                c.put("sliding_window", 8);
                c.put("sliding_window_pattern", 2);
            }
            default -> throw new IllegalArgumentException("no kit model for " + family);
        }
        return ModelConfig.parse(c, Path.of("kit-" + family + "-config.json"));
    }

    /** Writes model config and data into {@code dir}. */
    public static void fixture(Path dir, boolean tied) throws IOException {
        fixture(dir, tied, 261);
    }

    /** Writes model config (with the given vocabulary) and data into {@code dir}. */
    public static void fixture(Path dir, boolean tied, int vocab) throws IOException {
        fixture(dir, tied, vocab, "llama");
    }

    /** Writes a model config of {@code family} (with the given vocabulary) and data into {@code dir}. */
    public static void fixture(Path dir, boolean tied, int vocab, String family) throws IOException {
        Files.createDirectories(dir.resolve("model"));
        model(family, tied, vocab).write(dir.resolve("model/config.json"));
        Random r = new Random(3);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 120; i++) {
            int a = r.nextInt(50);
            int c = r.nextInt(50);
            b.append("{\"text\": \"").append(a).append(" + ").append(c).append(" = ").append(a + c)
                    .append(i % 3 == 0 ? ", and that is all." : ".").append("\"}\n");
        }
        Files.writeString(dir.resolve("data.jsonl"), b.toString());
    }

    /** The run's config for a world size: global batch of 4 rows, split as accumulation over the ranks. */
    public AxolotlConfig config(Path dir, int world, Path out, Map<String, String> extra) throws IOException {
        String yaml = "base_model: " + dir.resolve("model") + "\nreinit_weights: true\n"
                + "datasets:\n  - path: " + dir.resolve("data.jsonl") + "\n    type: completion\n"
                + "sequence_len: 48\nsample_packing: true\n"
                + "micro_batch_size: 1\ngradient_accumulation_steps: " + (GLOBAL_ROWS / dataParallel(world)) + "\n"
                + (tensorParallel > 1 && world > 1 ? "tensor_parallel_size: " + tensorParallel + "\n" : "")
                + (contextParallel > 1 && world > 1 ? "context_parallel_size: " + contextParallel + "\n" : "")
                + "max_steps: " + STEPS + "\nlearning_rate: 0.01\nlr_scheduler: cosine\nwarmup_steps: 2\n"
                + "optimizer: " + optimizer + "\nweight_decay: 0.01\nmax_grad_norm: 1.0\nseed: 11\nlogging_steps: 5\n"
                + "val_set_size: 0.1\neval_steps: 5\n"
                + "save_strategy: 'no'\noutput_dir: " + out + "\n" + extraYaml;
        Path yml = dir.resolve("kit-" + world + ".yml");
        Files.writeString(yml, yaml);
        return ConfigLoader.load(yml, extra).config();
    }

    /**
     * Ranks splitting each global batch at a world size (the reference run, world 1, has no tensor or context
     * parallel).
     */
    private int dataParallel(int world) {
        return world > 1 ? world / tensorParallel / contextParallel : world;
    }

    /** Losses of one run per rank (rank order) via the threads launcher, or one process when world is 0. */
    public List<List<Double>> run(AxolotlConfig config, int world, int crashAtStep) {
        evalLosses.clear();
        if (world == 0) {
            List<Double> losses = new ArrayList<>();
            List<Double> evals = new ArrayList<>();
            evalLosses.add(evals);
            try (Trainer t = new Trainer(config, new SingleProcessStrategy(), List.of(recorder(losses, evals, -1)),
                    1)) {
                t.fit();
            }
            return List.of(losses);
        }
        List<List<Double>> perRank = new ArrayList<>();
        for (int i = 0; i < world; i++) {
            perRank.add(new ArrayList<>());
            evalLosses.add(new ArrayList<>());
        }
        new ThreadLauncher(world, timeout, strategy).launch(config, s -> {
            try (Trainer t = new Trainer(config, s, List.of(recorder(perRank.get(s.rank()),
                    evalLosses.get(s.rank()), crashAtStep)), 1)) {
                TrainResult r = t.fit();
                return r;
            }
        });
        return perRank;
    }

    /** The eval losses of the last {@link #run}, per rank (one list for one process), in evaluation order. */
    public List<List<Double>> lastEvalLosses() {
        return evalLosses;
    }

    private static TrainingListener recorder(List<Double> losses, List<Double> evals, int crashAtStep) {
        return new TrainingListener() {
            @Override
            public void onEvaluation(int step, EvalResult r) {
                evals.add(r.loss());
            }

            @Override
            public void onStep(StepMetrics m) {
                if (m.step() == crashAtStep) {
                    throw new SimulatedCrash(m.step());
                }
                losses.add(m.loss());
            }
        };
    }

    /** Thrown by every rank at the same step to simulate a crash after a checkpoint. */
    public static final class SimulatedCrash extends RuntimeException {
        SimulatedCrash(int step) {
            super("simulated crash at step " + step);
        }
    }

    /** Runs the whole kit in {@code dir} at world sizes 1, 2 and 4. */
    public void assertParity(Path dir) throws IOException {
        assertParity(dir, 1, 2, 4);
    }

    /** Runs the kit at the given world sizes (a strategy that needs several ranks, like HSDP, skips 1). */
    public void assertParity(Path dir, int... worlds) throws IOException {
        for (boolean tied : new boolean[] {false, true}) {
            Path d = dir.resolve(tied ? "tied" : "untied");
            fixture(d, tied, (vocabulary + tensorParallel - 1) / tensorParallel * tensorParallel, family);
            List<Double> reference = run(config(d, 1, d.resolve("ref"), Map.of()), 0, -1).get(0);
            List<Double> referenceEval = List.copyOf(evalLosses.get(0));
            assertThat(reference).hasSize(STEPS);
            assertThat(referenceEval).as("evaluations at step 5 and at the end").hasSize(2)
                    .allSatisfy(l -> assertThat(l).isFinite());
            assertThat(reference.get(STEPS - 1)).as("the reference run learns").isLessThan(reference.get(0));
            for (int world : worlds) {
                Path out = d.resolve("world" + world);
                List<List<Double>> losses = run(config(d, world, out, Map.of()), world, -1);
                for (int r = 0; r < world; r++) {
                    assertClose(losses.get(r), reference, (tied ? "tied" : "untied") + " world " + world + " rank "
                            + r);
                    assertEvalClose(evalLosses.get(r), referenceEval, (tied ? "tied" : "untied") + " world "
                            + world + " rank " + r);
                }
                assertSameWeights(d.resolve("ref"), out, (tied ? "tied" : "untied") + " world " + world,
                        weightTolerance);
            }
        }
        assertResumeContinues(dir.resolve("untied"));
    }

    /** Save at step 5, crash at step 6, resume: the curve and weights of the uninterrupted run. */
    void assertResumeContinues(Path d) throws IOException {
        int world = resumeWorld;
        Path full = d.resolve("resume-full");
        Path split = d.resolve("resume-split");
        Map<String, String> save = new LinkedHashMap<>();
        save.put("save_strategy", "steps");
        save.put("save_steps", "5");
        List<Double> uninterrupted = run(config(d, world, full, save), world, -1).get(0);
        try {
            run(config(d, world, split, save), world, 6);
            throw new AssertionError("the simulated crash did not happen");
        } catch (SimulatedCrash expected) {
            // every rank stopped after checkpoint-5 was written
        }
        assertThat(split.resolve("checkpoint-5")).isDirectory();
        Map<String, String> resume = new LinkedHashMap<>(save);
        resume.put("resume_from_checkpoint", "true");
        List<Double> resumed = run(config(d, world, split, resume), world, -1).get(0);
        assertThat(resumed).as("steps run after resuming").hasSize(STEPS - 5);
        assertClose(resumed, uninterrupted.subList(5, STEPS), "resumed world " + world);
        assertSameWeights(full, split, "resumed world " + world, weightTolerance);
    }

    public static void assertClose(List<Double> actual, List<Double> expected, String what) {
        assertThat(actual).as(what + ": steps").hasSize(expected.size());
        for (int i = 0; i < expected.size(); i++) {
            assertThat(actual.get(i)).as(what + ": loss at step " + (i + 1)).isCloseTo(expected.get(i),
                    within(LOSS_TOLERANCE));
        }
    }

    /** Eval losses equal the reference's within {@link #LOSS_TOLERANCE}, evaluation by evaluation. */
    public static void assertEvalClose(List<Double> actual, List<Double> expected, String what) {
        assertThat(actual).as(what + ": evaluations").hasSize(expected.size());
        for (int i = 0; i < expected.size(); i++) {
            assertThat(actual.get(i)).as(what + ": eval_loss " + (i + 1)).isCloseTo(expected.get(i),
                    within(LOSS_TOLERANCE));
        }
    }

    public static void assertSameWeights(Path a, Path b, String what) throws IOException {
        assertSameWeights(a, b, what, WEIGHT_TOLERANCE);
    }

    /** Every weight (or adapter tensor) of two outputs within {@code tolerance}. */
    public static void assertSameWeights(Path a, Path b, String what, double tolerance) throws IOException {
        Path adapter = a.resolve(PeftFiles.WEIGHTS);
        if (Files.isRegularFile(adapter)) { // an adapter run's output: PEFT's files, every tensor compared
            try (PointerScope scope = new PointerScope()) {
                Map<String, Tensor> ta = Safetensors.read(adapter);
                Map<String, Tensor> tb = Safetensors.read(b.resolve(PeftFiles.WEIGHTS));
                assertThat(tb.keySet()).as(what + ": adapter tensors").isEqualTo(ta.keySet());
                for (String n : ta.keySet()) {
                    assertThat(Tensors.maxAbsDiff(ta.get(n), tb.get(n))).as(what + ": " + n)
                            .isLessThanOrEqualTo(tolerance);
                }
            }
            return;
        }
        try (CausalLm ma = HfCheckpoint.load(a); CausalLm mb = HfCheckpoint.load(b)) {
            for (String n : ma.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(ma.parameters().get(n), mb.parameters().get(n)))
                        .as(what + ": " + n).isLessThanOrEqualTo(tolerance);
            }
        }
    }
}
