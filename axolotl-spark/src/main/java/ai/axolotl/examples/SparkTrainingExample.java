package ai.axolotl.examples;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigError;
import ai.axolotl.config.ConfigException;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.config.DatasetConfig;
import ai.axolotl.data.DataException;
import ai.axolotl.data.DatasetFiles;
import ai.axolotl.spark.SparkStageFailedException;
import ai.axolotl.spark.SparkTrainResult;
import ai.axolotl.spark.SparkTraining;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainingException;
import ai.axolotl.train.TrainingListener;
import org.apache.spark.sql.DataFrameReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code SparkTrainingExample CONFIG.yml --ranks N [--key value ...]}: builds a SparkSession (local[N] unless
 * {@code spark-submit} set a master), reads the config's first dataset as a DataFrame, and trains it with N ranks
 * through {@link SparkTraining}, writing {@code output_dir} as {@code axolotl train} does. Config keys can be
 * overridden as on the CLI ({@code --max_steps 20}). Exit status 0 when trained, 2 for bad input (one line naming
 * the key, column or setting), 1 when training failed.
 */
public final class SparkTrainingExample {
    private SparkTrainingExample() {}

    /** Runs the example; see the class comment. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length < 1 || args[0].startsWith("--")) {
            System.err.println("usage: SparkTrainingExample CONFIG.yml --ranks N [--key value ...]");
            return 2;
        }
        int ranks = 0;
        Map<String, String> overrides = new LinkedHashMap<>();
        for (int i = 1; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                System.err.println("error: expected --key value, got '" + args[i] + "'");
                return 2;
            }
            String key = args[i].substring(2);
            String value = args[++i];
            if (key.equals("ranks")) {
                try {
                    ranks = Integer.parseInt(value);
                } catch (NumberFormatException e) {
                    System.err.println("error: --ranks: expected a number of ranks, got '" + value + "'");
                    return 2;
                }
            } else {
                overrides.put(key, value);
            }
        }
        if (ranks < 1) {
            System.err.println("error: --ranks N is required (N >= 1: the number of ranks, one Spark task each)");
            return 2;
        }
        try {
            ConfigLoader.Loaded loaded = ConfigLoader.load(Path.of(args[0]), overrides);
            loaded.warnings().forEach(w -> System.err.println("warning: " + w));
            return train(loaded.config(), ranks);
        } catch (ConfigException e) {
            for (ConfigError err : e.errors()) {
                System.err.println("error: " + err);
            }
            return 2;
        } catch (SparkStageFailedException e) {
            System.err.println("error: " + e.getMessage());
            return 1;
        } catch (TrainingException | DataException e) {
            System.err.println("error: " + e.getMessage());
            return 2;
        }
    }

    private static int train(AxolotlConfig config, int ranks) {
        SparkSession.Builder builder = SparkSession.builder().appName("axolotl-java SparkTrainingExample");
        if (System.getProperty("spark.master") == null) {
            builder.master("local[" + ranks + "]").config("spark.ui.enabled", "false");
        }
        SparkSession spark = builder.getOrCreate();
        try {
            Dataset<Row> rows = read(spark, config.datasets().get(0));
            SparkTrainResult r = new SparkTraining(spark, ranks).listener(new TrainingListener() {
                @Override
                public void onStep(StepMetrics m) {
                    Integer every = config.training().loggingSteps();
                    if (m.step() % (every == null ? 10 : every) == 0) {
                        System.out.printf("step %d loss %.4f lr %.2e%n", m.step(), m.loss(), m.lr());
                    }
                }
            }).fit(rows, config);
            System.out.printf("done: %d steps on %d ranks, final loss %.4f%s, model in %s (stage attempt %d)%n",
                    r.steps(), ranks, r.finalLoss(), r.finalEval() == null ? ""
                            : String.format(", eval loss %.4f", r.finalEval().loss()), r.outputDir(),
                    r.stageAttempt());
            return r.stoppedEarly() ? 1 : 0;
        } finally {
            spark.stop();
        }
    }

    /**
     * The dataset entry's files as one DataFrame, in the order {@code axolotl train} reads them: each file read on
     * its own (Spark would otherwise order a directory's splits by size) and the files unioned in order.
     */
    static Dataset<Row> read(SparkSession spark, DatasetConfig d) {
        Dataset<Row> all = null;
        for (Path file : DatasetFiles.resolve(d, 0)) {
            DataFrameReader reader = spark.read();
            if (DatasetFiles.isJsonArray(file)) {
                reader = reader.option("multiLine", "true");
            }
            Dataset<Row> part = reader.json(file.toString());
            all = all == null ? part : all.unionByName(part, true);
        }
        return all;
    }
}
