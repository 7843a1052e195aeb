package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A stop request (what a SIGTERM from a scheduler turns into) on one rank stops every rank after the same step
 * with a complete checkpoint: the ranks agree on it at the end of each step. Without the agreement the asked rank
 * leaves while the others enter the next step's collectives, and the run fails at the collective timeout.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class StopOnRequestTest {
    private static AxolotlConfig config(Path dir, String out, String extra) throws Exception {
        Files.createDirectories(dir.resolve("model"));
        ModelConfig.llama(300, 128, 256, 2, 4, 2, 256, 1e-5, 10000, false, "float32")
                .write(dir.resolve("model/config.json"));
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 64; i++) {
            b.append("{\"text\": \"row ").append(i).append(" counts ").append(i * 7 % 13).append(" apples\"}\n");
        }
        Files.writeString(dir.resolve("data.jsonl"), b.toString());
        Path yml = dir.resolve(out + ".yml");
        Files.writeString(yml, "base_model: " + dir.resolve("model") + "\nreinit_weights: true\ndatasets:\n"
                + "  - path: " + dir.resolve("data.jsonl") + "\n    type: completion\nsequence_len: 32\n"
                + "micro_batch_size: 1\ngradient_accumulation_steps: 2\nmax_steps: 6\nlearning_rate: 0.001\n"
                + "optimizer: adamw_torch\nseed: 5\nsave_steps: 100\nddp_timeout: 20\n"
                + "deepspeed:\n  zero_optimization:\n    stage: 3\n    stage3_param_persistence_threshold: 0\n"
                + "output_dir: " + dir.resolve(out) + "\n" + extra);
        return ConfigLoader.load(yml, Map.of()).config();
    }

    /** Rank 0's losses; {@code stopOnRank1AtStep} > 0 asks only rank 1's trainer to stop after that step. */
    private static List<TrainResult> run(AxolotlConfig c, int stopOnRank1AtStep) {
        return new ThreadLauncher(2, Duration.ofSeconds(60), Strategies::create).launch(c, s -> {
            Trainer[] self = new Trainer[1];
            TrainingListener stopper = new TrainingListener() {
                @Override
                public void onStep(StepMetrics m) {
                    if (m.step() == stopOnRank1AtStep) {
                        self[0].stop();
                    }
                }
            };
            try (Trainer t = new Trainer(c, s, s.rank() == 1 ? List.of(stopper) : List.of(), 1)) {
                self[0] = t;
                return t.fit();
            }
        });
    }

    @Test
    void aStopOnOneRankStopsAllAfterTheSameStepWithACompleteCheckpoint(@TempDir Path dir) throws Exception {
        List<TrainResult> full = run(config(dir, "full", ""), 0);
        List<TrainResult> stopped = run(config(dir, "split", ""), 3);
        assertThat(stopped).extracting(TrainResult::steps).containsExactly(3, 3);
        assertThat(dir.resolve("split/checkpoint-3")).isDirectory();
        assertThat(dir.resolve("split/model.safetensors")).as("no export of an unfinished run").doesNotExist();
        // the checkpoint both ranks wrote resumes to the uninterrupted curve
        List<TrainResult> resumed = run(config(dir, "split", "resume_from_checkpoint: true\n"), 0);
        List<Double> losses = new ArrayList<>(resumed.get(0).losses());
        StrategyTestKit.assertClose(losses, full.get(0).losses(), "stopped at 3 and resumed vs uninterrupted");
    }
}
