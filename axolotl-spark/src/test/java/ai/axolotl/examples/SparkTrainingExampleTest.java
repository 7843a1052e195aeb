package ai.axolotl.examples;

import ai.axolotl.sharding.Strategies;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The example's main path: its own local[N] session, the config's dataset as a DataFrame, an exported model. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SparkTrainingExampleTest {
    @Test
    void trainsTheConfigsDatasetWithNRanksAndExports(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, "");
        StrategyTestKit.fixture(dir, false);
        kit.config(dir, 2, dir.resolve("out"), Map.of());
        Path yml = dir.resolve("kit-2.yml");

        int status = SparkTrainingExample.run(new String[] {yml.toString(), "--ranks", "2", "--max_steps", "3"});

        assertThat(status).isZero();
        assertThat(dir.resolve("out/model.safetensors")).isRegularFile();
        assertThat(Files.readString(dir.resolve("out/metrics.jsonl"))).contains("\"step\":3");
    }

    @Test
    void badArgumentsExitWithStatus2() throws Exception {
        assertThat(SparkTrainingExample.run(new String[] {})).isEqualTo(2);
        assertThat(SparkTrainingExample.run(new String[] {"missing.yml"})).as("no --ranks").isEqualTo(2);
        assertThat(SparkTrainingExample.run(new String[] {"missing.yml", "--ranks", "two"})).isEqualTo(2);
        assertThat(SparkTrainingExample.run(new String[] {"missing.yml", "--ranks", "2"})).as("no config file")
                .isEqualTo(2);
    }
}
