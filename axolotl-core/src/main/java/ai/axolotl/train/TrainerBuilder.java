package ai.axolotl.train;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigException;
import ai.axolotl.config.ConfigLoader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Fluent entry point for programs that embed the library:
 * <pre>{@code
 * try (Trainer t = new TrainerBuilder()
 *         .baseModel("models/llama-tiny").reinitWeights(true)
 *         .dataset("data/corpus.jsonl", "completion")
 *         .sequenceLen(256).samplePacking(true)
 *         .microBatchSize(4).gradientAccumulationSteps(2)
 *         .learningRate(1e-3).maxSteps(100)
 *         .outputDir("out")
 *         .build()) {
 *     TrainResult r = t.fit();
 * }
 * }</pre>
 * Each setter writes the Axolotl key it is named after, so a builder and a YAML file with the same keys bind to
 * equal {@link AxolotlConfig}s through the same validation. Starts with {@code micro_batch_size: 1} and
 * {@code gradient_accumulation_steps: 1}.
 */
public final class TrainerBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(TrainerBuilder.class);
    private final Map<String, Object> raw = new LinkedHashMap<>();
    private final List<Map<String, Object>> datasets = new ArrayList<>();
    private final List<TrainingListener> listeners = new ArrayList<>();
    private Supplier<ShardingStrategy> strategy = SingleProcessStrategy::new;
    private int threads;

    /** An empty builder with micro_batch_size and gradient_accumulation_steps 1. */
    public TrainerBuilder() {
        raw.put("micro_batch_size", 1);
        raw.put("gradient_accumulation_steps", 1);
    }

    /** A builder that starts from a YAML file's keys (later setters override them). */
    @SuppressWarnings("unchecked")
    public static TrainerBuilder fromYaml(Path yaml) {
        TrainerBuilder b = new TrainerBuilder();
        b.raw.clear();
        Map<String, Object> fromFile = ConfigLoader.readYaml(yaml);
        Object ds = fromFile.remove("datasets");
        b.raw.putAll(fromFile);
        if (ds instanceof List<?> l) {
            for (Object o : l) {
                if (o instanceof Map<?, ?> m) {
                    b.datasets.add(new LinkedHashMap<>((Map<String, Object>) m));
                }
            }
        }
        return b;
    }

    /** Sets any Axolotl key (snake_case) to a value, as YAML would. */
    public TrainerBuilder set(String key, Object value) {
        if (key.equals("datasets")) {
            throw new IllegalArgumentException("use dataset(...) to add datasets");
        }
        raw.put(key, value);
        return this;
    }

    /** {@code base_model}: a local Hugging Face model directory. */
    public TrainerBuilder baseModel(String dir) {
        return set("base_model", dir);
    }

    /** {@code reinit_weights}. */
    public TrainerBuilder reinitWeights(boolean v) {
        return set("reinit_weights", v);
    }

    /** {@code tokenizer_config}: a tokenizer.json or its directory. */
    public TrainerBuilder tokenizerConfig(String path) {
        return set("tokenizer_config", path);
    }

    /** Adds a {@code datasets} entry with a path and type (null type: pre-tokenized rows). */
    public TrainerBuilder dataset(String path, String type) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("path", path);
        if (type != null) {
            d.put("type", type);
        }
        datasets.add(d);
        return this;
    }

    /** Adds a {@code datasets} entry given as its keys ({@code path}, {@code type}, {@code field}, ...). */
    public TrainerBuilder dataset(Map<String, Object> entry) {
        datasets.add(new LinkedHashMap<>(entry));
        return this;
    }

    /** {@code sequence_len}. */
    public TrainerBuilder sequenceLen(int v) {
        return set("sequence_len", v);
    }

    /** {@code sample_packing}. */
    public TrainerBuilder samplePacking(boolean v) {
        return set("sample_packing", v);
    }

    /** {@code val_set_size}: a fraction below 1 or a number of examples. */
    public TrainerBuilder valSetSize(double v) {
        return set("val_set_size", v);
    }

    /** {@code micro_batch_size}. */
    public TrainerBuilder microBatchSize(int v) {
        return set("micro_batch_size", v);
    }

    /** {@code gradient_accumulation_steps}. */
    public TrainerBuilder gradientAccumulationSteps(int v) {
        return set("gradient_accumulation_steps", v);
    }

    /** {@code num_epochs}. */
    public TrainerBuilder numEpochs(double v) {
        return set("num_epochs", v);
    }

    /** {@code max_steps}. */
    public TrainerBuilder maxSteps(int v) {
        return set("max_steps", v);
    }

    /** {@code learning_rate}. */
    public TrainerBuilder learningRate(double v) {
        return set("learning_rate", v);
    }

    /** {@code lr_scheduler}: constant, constant_with_warmup, linear or cosine. */
    public TrainerBuilder lrScheduler(String v) {
        return set("lr_scheduler", v);
    }

    /** {@code warmup_steps}. */
    public TrainerBuilder warmupSteps(int v) {
        return set("warmup_steps", v);
    }

    /** {@code weight_decay}. */
    public TrainerBuilder weightDecay(double v) {
        return set("weight_decay", v);
    }

    /** {@code max_grad_norm}. */
    public TrainerBuilder maxGradNorm(double v) {
        return set("max_grad_norm", v);
    }

    /** {@code optimizer}: adamw_torch (or alias) or sgd. */
    public TrainerBuilder optimizer(String v) {
        return set("optimizer", v);
    }

    /** {@code seed}. */
    public TrainerBuilder seed(long v) {
        return set("seed", v);
    }

    /** {@code output_dir}. */
    public TrainerBuilder outputDir(String v) {
        return set("output_dir", v);
    }

    /** {@code logging_steps}. */
    public TrainerBuilder loggingSteps(int v) {
        return set("logging_steps", v);
    }

    /** {@code save_steps}. */
    public TrainerBuilder saveSteps(int v) {
        return set("save_steps", v);
    }

    /** {@code save_total_limit}. */
    public TrainerBuilder saveTotalLimit(int v) {
        return set("save_total_limit", v);
    }

    /** {@code resume_from_checkpoint}: a checkpoint directory, or "latest" for the newest in output_dir. */
    public TrainerBuilder resumeFromCheckpoint(String v) {
        return set("resume_from_checkpoint", v.equals("latest") ? Boolean.TRUE : v);
    }

    /** {@code bf16}: true for bf16 compute with float32 master weights. */
    public TrainerBuilder bf16(boolean v) {
        return set("bf16", v);
    }

    /** {@code gradient_checkpointing}. */
    public TrainerBuilder gradientCheckpointing(boolean v) {
        return set("gradient_checkpointing", v);
    }

    /** Adds a listener for steps, evaluations and checkpoints. */
    public TrainerBuilder listener(TrainingListener l) {
        listeners.add(l);
        return this;
    }

    /** The strategy that spreads steps over processes (default: one process). */
    public TrainerBuilder strategy(Supplier<ShardingStrategy> s) {
        this.strategy = s;
        return this;
    }

    /** libtorch intra-op threads (default: libtorch's choice). */
    public TrainerBuilder threads(int n) {
        this.threads = n;
        return this;
    }

    /** The raw key map the builder holds (datasets included). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>(raw);
        if (!datasets.isEmpty()) {
            m.put("datasets", List.copyOf(datasets));
        }
        return m;
    }

    /** Binds and validates the configuration; throws {@link ConfigException} listing every problem. */
    public AxolotlConfig buildConfig() {
        ConfigLoader.Loaded loaded = ConfigLoader.fromMap(toMap());
        loaded.warnings().forEach(w -> LOG.warn(w));
        return loaded.config();
    }

    /** A trainer for the validated configuration. */
    public Trainer build() {
        return new Trainer(buildConfig(), strategy.get(), listeners, threads);
    }

    /**
     * Trains on every rank of a launcher (for example N threads of this JVM, each with its own Gloo group) and
     * returns each rank's result in rank order. The strategy comes from the launcher, chosen from the config.
     */
    public List<TrainResult> fit(RankLauncher launcher) {
        AxolotlConfig config = buildConfig();
        return launcher.launch(config, s -> {
            try (Trainer t = new Trainer(config, s, listeners, threads)) {
                return t.fit();
            }
        });
    }
}
