package ai.axolotl.spark;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.DataSettings;
import ai.axolotl.config.DatasetConfig;
import ai.axolotl.config.ModelSettings;
import ai.axolotl.train.EvalResult;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.TrainingListener;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.IntStream;

/**
 * Trains inside a Spark application: one barrier stage of {@code ranks} tasks, each task one rank of the same
 * distributed run {@code axolotl train} makes (Gloo on CPU executors), the DataFrame's rows as training data.
 *
 * <pre>{@code
 * SparkTrainResult r = SparkTraining.fit(spark, spark.read().json("train.jsonl"), config, 4);
 * // or, with driver-side listeners:
 * new SparkTraining(spark, 4).listener(myListener).fit(rows, config);
 * }</pre>
 *
 * <p>Before anything waits, the Spark settings are checked (dynamic allocation off, at least {@code ranks} task
 * slots, a master that runs barrier stages) and the DataFrame's columns against {@code datasets[0]}. The rows
 * are written by an ordinary job to {@code <output_dir>/spark-input/} ({@link DataFrameInput}; nothing is collected
 * on the driver), then the barrier stage trains. When a task fails, Spark aborts and retries the whole stage
 * (up to {@code spark.stage.maxConsecutiveAttempts}); the retried ranks resume from the latest complete
 * checkpoint in {@code output_dir}. {@code output_dir} must be a filesystem the driver and every executor see.
 */
public final class SparkTraining {
    private static final Logger LOG = LoggerFactory.getLogger(SparkTraining.class);

    private final SparkSession spark;
    private final int ranks;
    private final List<TrainingListener> listeners = new ArrayList<>();
    private RankListeners rankListeners;
    private int threadsPerRank;

    /**
     * @param spark the session whose cluster runs the ranks
     * @param ranks the number of ranks (barrier tasks, one task slot each)
     */
    public SparkTraining(SparkSession spark, int ranks) {
        this.spark = spark;
        this.ranks = ranks;
    }

    /** Trains {@code rows} with {@code config} on {@code ranks} ranks; see the class comment. */
    public static SparkTrainResult fit(SparkSession spark, Dataset<Row> rows, AxolotlConfig config, int ranks) {
        return new SparkTraining(spark, ranks).fit(rows, config);
    }

    /**
     * Adds a listener called on the driver, on one thread, as rank 0 reports each step, evaluation and
     * checkpoint; {@link TrainingListener#onTrainEnd} is called once with the final result.
     */
    public SparkTraining listener(TrainingListener listener) {
        listeners.add(listener);
        return this;
    }

    /** Listeners each rank's trainer calls inside its task (serialized to the executors). */
    public SparkTraining rankListeners(RankListeners factory) {
        this.rankListeners = factory;
        return this;
    }

    /** libtorch intra-op threads per rank; default: {@code spark.task.cpus}. */
    public SparkTraining threadsPerRank(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threadsPerRank must be at least 1, got " + threads);
        }
        this.threadsPerRank = threads;
        return this;
    }

    /**
     * Trains.
     *
     * @param rows the training rows, with the columns {@code datasets[0]} reads
     * @param config the run's config; its {@code datasets} must have exactly one entry, whose {@code type} and
     *               {@code field} name the columns (its {@code path} is not read)
     * @return rank 0's result
     * @throws SparkTrainingException when the settings, the config or the data cannot work, or the stage failed
     *                                more often than Spark retries it
     */
    public SparkTrainResult fit(Dataset<Row> rows, AxolotlConfig config) {
        SparkContext sc = spark.sparkContext();
        SparkConf conf = sc.getConf();
        SparkPreconditions.check(conf, sc.defaultParallelism(), ranks);
        if (config.datasets().size() != 1) {
            throw new SparkTrainingException("datasets has " + config.datasets().size() + " entries; a Spark run "
                    + "trains on the one DataFrame it is given, read by datasets[0]: keep one entry");
        }
        if (config.checkpoint().saveOnlyModel()) {
            LOG.warn("save_only_model: true: checkpoints hold no optimizer state, so a retried stage cannot resume "
                    + "and starts again from step 0");
        }
        DatasetConfig d = config.datasets().get(0);
        Path outputDir = Path.of(config.checkpoint().outputDir()).toAbsolutePath();
        InputManifest input = DataFrameInput.write(rows, d, outputDir);
        LOG.info("wrote {} rows in {} file(s) to {}", input.rows(), input.parts().size(), input.dir());
        AxolotlConfig rankConfig = withInput(config, input, outputDir);

        String runId = "spark-" + sc.applicationId() + "-" + UUID.randomUUID().toString().substring(0, 8);
        MetricsChannel.Server server = listeners.isEmpty() ? null
                : new MetricsChannel.Server(conf.get("spark.driver.host", "127.0.0.1"), listeners);
        try {
            RankTask task = new RankTask(rankConfig, input, ranks, threadsPerRank,
                    server == null ? null : server.endpoint(), rankListeners, runId);
            List<SparkTrainResult> out = runBarrierStage(sc, task);
            if (out.size() != 1) {
                throw new SparkTrainingException("the barrier stage returned " + out.size() + " results; expected "
                        + "rank 0's only");
            }
            SparkTrainResult r = out.get(0);
            LOG.info("done: {} steps, final loss {}, model in {} (stage attempt {})", r.steps(),
                    String.format("%.4f", r.finalLoss()), r.outputDir(), r.stageAttempt());
            TrainResult asTrainResult = new TrainResult(r.steps(), r.losses(), r.finalEval(), Path.of(r.outputDir()),
                    r.datasetFingerprint(), r.stoppedEarly());
            listeners.forEach(l -> l.onTrainEnd(asTrainResult));
            return r;
        } finally {
            if (server != null) {
                server.close();
            }
        }
    }

    private List<SparkTrainResult> runBarrierStage(SparkContext sc, RankTask task) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(sc);
        ClassTag<SparkTrainResult> tag = ClassTag$.MODULE$.apply(SparkTrainResult.class);
        JavaRDD<Integer> seeds = jsc.parallelize(IntStream.range(0, ranks).boxed().toList(), ranks);
        RDD<SparkTrainResult> trained = seeds.rdd().barrier().mapPartitions(task, false, tag);
        sc.setJobDescription("axolotl-java: train on " + ranks + " ranks");
        try {
            // the shuffle after the barrier stage makes it a map stage, which Spark retries as a whole when a task
            // fails (a failed barrier result stage is aborted instead)
            return new JavaRDD<>(trained, tag).repartition(1).collect();
        } catch (Exception e) {
            // Scala declares no checked exceptions: a failed job is a SparkException thrown undeclared
            throw new SparkStageFailedException("training failed: " + rootMessage(e), e);
        } finally {
            sc.setJobDescription(null);
        }
    }

    /**
     * The config the ranks run: its dataset is the written input, and the paths it names are absolute as the driver
     * resolves them ({@code output_dir}, {@code dataset_prepared_path}, and {@code base_model} /
     * {@code tokenizer_config} when they exist here), since an executor's working directory is not the driver's.
     */
    static AxolotlConfig withInput(AxolotlConfig c, InputManifest input, Path outputDir) {
        DatasetConfig d = c.datasets().get(0);
        DatasetConfig written = new DatasetConfig(input.dir(), d.type(), d.field(), "json", input.files(), "train",
                d.chat(), null, null);
        ModelSettings m = c.model();
        ModelSettings model = new ModelSettings(absoluteIfHere(m.baseModel()), m.reinitWeights(),
                absoluteIfHere(m.tokenizerConfig()), m.gradientCheckpointing(), m.chunkedLoss(), m.specialTokens(),
                m.revision(), m.adapter().loraModelDir() == null ? m.adapter()
                : m.adapter().withLoraModelDir(absoluteIfHere(m.adapter().loraModelDir())));
        DataSettings t = c.data();
        DataSettings data = new DataSettings(t.datasetPreparedPath() == null ? null
                : Path.of(t.datasetPreparedPath()).toAbsolutePath().toString(), t.valSetSize(), t.sequenceLen(),
                t.samplePacking(), t.padToSequenceLen(), t.trainOnInputs(), t.minSampleLen(), t.chat());
        return new AxolotlConfig(model, List.of(written), data, c.training(), c.optimizer(), c.scheduler(),
                c.checkpoint().withOutputDir(outputDir.toString()), c.precision(), c.parallel());
    }

    private static String absoluteIfHere(String path) {
        return path != null && Files.exists(Path.of(path)) ? Path.of(path).toAbsolutePath().toString() : path;
    }

    /** Spark's message for a failed job, trimmed to the first line of the deepest cause. */
    static String rootMessage(Throwable e) {
        String msg = e.getMessage() == null ? e.toString() : e.getMessage();
        String first = msg.lines().findFirst().orElse(msg);
        return first + lastCauseLine(e);
    }

    private static String lastCauseLine(Throwable e) {
        Throwable c = e;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        if (c == e || c.getMessage() == null) {
            return "";
        }
        return "; cause: " + c.getMessage().lines().findFirst().orElse("");
    }
}
