package ai.axolotl.spark;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.sharding.Strategies;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.EvalResult;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.TrainingListener;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static ai.axolotl.sharding.testkit.StrategyTestKit.assertClose;
import static ai.axolotl.sharding.testkit.StrategyTestKit.assertEvalClose;
import static ai.axolotl.sharding.testkit.StrategyTestKit.assertSameWeights;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Spark in this JVM ({@code local[2]}: each task a thread), training the strategy kit's small Llama on 2 ranks.
 * The reference is the same config on the same JSON-lines file run by the thread launcher, which runs the same
 * trainer, rendezvous and Gloo groups as {@code axolotl train --launcher local}.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SparkTrainingTest {
    private static SparkSession spark;

    @BeforeAll
    static void startSpark() {
        spark = SparkSession.builder().master("local[2]").appName("axolotl-spark-test")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "2")
                // small input splits, so the JSON-lines file arrives in several partitions whose order matters
                .config("spark.sql.files.maxPartitionBytes", "1500")
                .getOrCreate();
    }

    @AfterAll
    static void stopSpark() {
        if (spark != null) {
            spark.stop();
        }
    }

    private static StrategyTestKit kit() {
        return new StrategyTestKit(Strategies::create, "");
    }

    @Test
    void aDataFrameTrainsTheCurveTheLauncherTrainsOnTheSameRows(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = kit();
        StrategyTestKit.fixture(dir, false);
        List<Double> reference = kit.run(kit.config(dir, 2, dir.resolve("threads"), Map.of()), 2, -1).get(0);
        List<Double> referenceEval = List.copyOf(kit.lastEvalLosses().get(0));

        Dataset<Row> rows = spark.read().json(dir.resolve("data.jsonl").toString());
        assertThat(rows.rdd().getNumPartitions()).as("the file is read in several partitions").isGreaterThan(1);
        AxolotlConfig config = kit.config(dir, 2, dir.resolve("spark"), Map.of());
        List<StepMetrics> driverSteps = new CopyOnWriteArrayList<>();
        List<Double> driverEvals = new CopyOnWriteArrayList<>();
        List<TrainResult> ends = new ArrayList<>();
        SparkTrainResult r = new SparkTraining(spark, 2).listener(new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                driverSteps.add(m);
            }

            @Override
            public void onEvaluation(int step, EvalResult e) {
                driverEvals.add(e.loss());
            }

            @Override
            public void onTrainEnd(TrainResult result) {
                ends.add(result);
            }
        }).fit(rows, config);

        assertClose(r.losses(), reference, "spark vs thread launcher");
        assertThat(r.history()).extracting(StepMetrics::step).containsExactly(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        assertEvalClose(driverEvals, referenceEval, "evaluations seen by the driver's listener");
        assertThat(driverSteps).extracting(StepMetrics::loss).containsExactlyElementsOf(r.losses());
        assertThat(ends).singleElement().satisfies(e -> assertThat(e.steps()).isEqualTo(10));
        assertThat(r.stageAttempt()).isZero();
        assertThat(r.inputRows()).isEqualTo(120);
        assertThat(Files.readAllLines(dir.resolve("spark/metrics.jsonl"))).isNotEmpty();
        assertThat(Files.list(dir.resolve("spark").resolve(DataFrameInput.DIR)).count())
                .as("one file per partition").isEqualTo(rows.rdd().getNumPartitions());
        assertSameWeights(dir.resolve("threads"), dir.resolve("spark"), "spark vs thread launcher");
    }

    @Test
    void preTokenizedRowsTrainAsTheLauncherTrainsThem(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = kit();
        StrategyTestKit.fixture(dir, false);
        Random random = new Random(5);
        StringBuilder ids = new StringBuilder();
        for (int i = 0; i < 120; i++) {
            StringBuilder row = new StringBuilder("{\"input_ids\": [1");
            for (int t = 0, n = 8 + random.nextInt(32); t < n; t++) {
                row.append(", ").append(3 + random.nextInt(250));
            }
            ids.append(row).append("]}\n");
        }
        Path data = dir.resolve("ids.jsonl");
        Files.writeString(data, ids.toString());
        kit.config(dir, 2, dir.resolve("unused"), Map.of());
        Path yml = dir.resolve("ids.yml");
        Files.writeString(yml, Files.readString(dir.resolve("kit-2.yml"))
                .replace(dir.resolve("data.jsonl").toString(), data.toString()).replace("    type: completion\n", ""));
        AxolotlConfig threads = ConfigLoader.load(yml, Map.of("output_dir", dir.resolve("threads").toString()))
                .config();
        assertThat(threads.datasets().get(0).type()).as("pre-tokenized: no type").isNull();
        List<Double> reference = kit.run(threads, 2, -1).get(0);

        Dataset<Row> rows = spark.read().json(data.toString());
        SparkTrainResult r = SparkTraining.fit(spark, rows, ConfigLoader.load(yml,
                Map.of("output_dir", dir.resolve("spark").toString())).config(), 2);

        assertClose(r.losses(), reference, "pre-tokenized rows: spark vs thread launcher");
        assertSameWeights(dir.resolve("threads"), dir.resolve("spark"), "pre-tokenized rows");
    }

    @Test
    void aTaskThatDiesIsRetriedAndTheRanksResumeFromTheLastCheckpoint(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = kit();
        StrategyTestKit.fixture(dir, false);
        Map<String, String> saves = Map.of("save_strategy", "steps", "save_steps", "5", "ddp_timeout", "15");
        List<Double> uninterrupted = kit.run(kit.config(dir, 2, dir.resolve("threads"), saves), 2, -1).get(0);

        Dataset<Row> rows = spark.read().json(dir.resolve("data.jsonl").toString());
        AxolotlConfig config = kit.config(dir, 2, dir.resolve("spark"), saves);
        SparkTrainResult r = new SparkTraining(spark, 2).rankListeners(new DieOnce(1, 7)).fit(rows, config);

        assertThat(r.stageAttempt()).as("the stage ran again after the task died").isEqualTo(1);
        assertThat(r.resumedFrom()).endsWith("checkpoint-5");
        assertThat(r.history()).extracting(StepMetrics::step).containsExactly(6, 7, 8, 9, 10);
        assertClose(r.losses(), uninterrupted, "retried spark run vs uninterrupted");
        assertSameWeights(dir.resolve("threads"), dir.resolve("spark"), "retried spark run vs uninterrupted");
    }

    /** Rank {@code rank} throws after step {@code step} on the stage's first attempt only. */
    record DieOnce(int rank, int step) implements RankListeners {
        @Override
        public List<TrainingListener> create(int r, int stageAttempt) {
            if (r != rank || stageAttempt > 0) {
                return List.of();
            }
            return List.of(new TrainingListener() {
                @Override
                public void onStep(StepMetrics m) {
                    if (m.step() == step) {
                        throw new IllegalStateException("task of rank " + rank + " dies at step " + step);
                    }
                }
            });
        }
    }

    @Test
    void moreRanksThanTaskSlotsAreRefusedAtOnceNamingTheSetting(@TempDir Path dir) throws Exception {
        StrategyTestKit.fixture(dir, false);
        AxolotlConfig config = kit().config(dir, 2, dir.resolve("out"), Map.of());
        Dataset<Row> rows = spark.read().json(dir.resolve("data.jsonl").toString());
        long start = System.nanoTime();
        assertThatThrownBy(() -> SparkTraining.fit(spark, rows, config, 3))
                .isInstanceOf(SparkTrainingException.class)
                .hasMessageContaining("2 task slot(s)").hasMessageContaining("local[2]")
                .hasMessageContaining("3 ranks");
        assertThat(System.nanoTime() - start).as("refused before any wait").isLessThan(5_000_000_000L);
        assertThat(dir.resolve("out")).doesNotExist();
    }

    @Test
    void aMissingColumnIsRefusedNamingTheKeyAndTheColumns(@TempDir Path dir) throws Exception {
        StrategyTestKit.fixture(dir, false);
        AxolotlConfig config = kit().config(dir, 2, dir.resolve("out"), Map.of());
        Dataset<Row> rows = spark.read().json(dir.resolve("data.jsonl").toString()).withColumnRenamed("text", "body");
        assertThatThrownBy(() -> SparkTraining.fit(spark, rows, config, 2))
                .isInstanceOf(SparkTrainingException.class)
                .hasMessage("datasets[0].field: the DataFrame has no column 'text' (its columns: body)");
    }
}
