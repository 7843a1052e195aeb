package ai.axolotl.spark;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.train.TrainerBuilder;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The config shipped to the ranks: the written input as its dataset, paths absolute as the driver sees them. */
class RankConfigTest {
    @Test
    void theDatasetIsTheWrittenInputAndDriverPathsBecomeAbsolute() {
        AxolotlConfig c = new TrainerBuilder().baseModel("src/test").reinitWeights(true)
                .set("tokenizer_config", "no/such/tokenizer.json").learningRate(1e-3)
                .dataset("ignored.jsonl", "completion").sequenceLen(64).microBatchSize(1).maxSteps(1)
                .set("dataset_prepared_path", "outputs/prepared").outputDir("out").buildConfig();
        InputManifest input = new InputManifest("/shared/out/spark-input", List.of(
                new InputManifest.Part(0, "part-00000.jsonl", 3, 10, "aa"),
                new InputManifest.Part(2, "part-00002.jsonl", 1, 4, "bb")));
        Path out = Path.of("/shared/out");

        AxolotlConfig r = SparkTraining.withInput(c, input, out);

        assertThat(r.datasets()).singleElement().satisfies(d -> {
            assertThat(d.path()).isEqualTo("/shared/out/spark-input");
            assertThat(d.dataFiles()).containsExactly("part-00000.jsonl", "part-00002.jsonl");
            assertThat(d.type()).isEqualTo("completion");
        });
        assertThat(r.checkpoint().outputDir()).isEqualTo("/shared/out");
        assertThat(r.data().datasetPreparedPath()).isEqualTo(Path.of("outputs/prepared").toAbsolutePath().toString());
        assertThat(r.model().baseModel()).as("exists on the driver").isEqualTo(Path.of("src/test").toAbsolutePath()
                .toString());
        assertThat(r.model().tokenizerConfig()).as("not on the driver: left for the executors to resolve")
                .isEqualTo("no/such/tokenizer.json");
        assertThat(r.training()).isEqualTo(c.training());
        assertThat(r.parallel()).isEqualTo(c.parallel());
    }
}
