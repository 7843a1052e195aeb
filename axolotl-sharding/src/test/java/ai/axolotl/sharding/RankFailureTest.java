package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

/**
 * A rank that fails outside a collective stops every rank within seconds, naming it and its error, with the
 * collective timeout at Axolotl's default (1,800 s): at the agreement point before step 1 (a rank whose load
 * failed) and during training (the failed rank reports it and skips its closing barrier).
 */
@Timeout(120)
class RankFailureTest {
    private static final Duration DEFAULT_DDP_TIMEOUT = Duration.ofSeconds(1800);

    private static AxolotlConfig config(Path dir, int steps, String more) throws Exception {
        if (!Files.exists(dir.resolve("model/config.json"))) {
            Files.createDirectories(dir.resolve("model"));
            StrategyTestKit.model(false).write(dir.resolve("model/config.json"));
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < 40; i++) {
                b.append("{\"text\": \"a rank fails, row ").append(i).append("\"}\n");
            }
            Files.writeString(dir.resolve("data.jsonl"), b.toString());
        }
        Path yml = dir.resolve("c.yml");
        Files.writeString(yml, "base_model: " + dir.resolve("model") + "\nreinit_weights: true\ndatasets:\n"
                + "  - path: " + dir.resolve("data.jsonl") + "\n    type: completion\nsequence_len: 32\n"
                + "micro_batch_size: 1\ngradient_accumulation_steps: 1\nmax_steps: " + steps + "\n"
                + "learning_rate: 0.01\noptimizer: adamw_torch\nsave_steps: 2\noutput_dir: " + dir.resolve("out")
                + "\ndeepspeed:\n  zero_optimization:\n    stage: 3\n" + more);
        return ConfigLoader.load(yml, Map.of()).config();
    }

    private static Throwable train(AxolotlConfig c, int failingRank, int failAtStep) {
        return catchThrowable(() -> new ThreadLauncher(2, DEFAULT_DDP_TIMEOUT, Strategies::create).launch(c, s -> {
            TrainingListener breaker = new TrainingListener() {
                @Override
                public void onStep(StepMetrics m) {
                    if (s.rank() == failingRank && m.step() == failAtStep) {
                        throw new IllegalStateException("rank " + failingRank + "'s listener broke at step " + m.step());
                    }
                }
            };
            try (Trainer t = new Trainer(c, s, List.of(breaker), 1)) {
                return t.fit();
            }
        }));
    }

    @Test
    void aShardFileMissingOnOneRankStopsBothRanksAtTheAgreementNamingRankAndFile(@TempDir Path dir) throws Exception {
        assertThat(train(config(dir, 2, ""), -1, -1)).isNull();
        Path shard = dir.resolve("out/checkpoint-2/zero/rank1.safetensors");
        assertThat(shard).exists();
        Files.delete(shard);
        long t0 = System.nanoTime();
        Throwable e = train(config(dir, 4, "resume_from_checkpoint: latest\n"), -1, -1);
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("both ranks stopped %.1f s after the resume started (collective timeout %d s)%n", seconds,
                DEFAULT_DDP_TIMEOUT.toSeconds());
        assertThat(e).isNotNull();
        // the launcher throws rank 0's error, with rank 1's own error suppressed in it
        assertThat(e.getMessage()).as("rank 0 names rank 1 and its error").contains("rank 1 failed")
                .contains("rank1.safetensors");
        assertThat(e.getSuppressed()).hasSize(1);
        assertThat(e.getSuppressed()[0].getMessage()).contains("rank1.safetensors");
        assertThat(seconds).isLessThan(60);
    }

    @Test
    void aRankFailingDuringTrainingStopsTheOtherNamingItsError(@TempDir Path dir) throws Exception {
        long t0 = System.nanoTime();
        Throwable e = train(config(dir, 8, ""), 1, 3);
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("both ranks stopped %.1f s into the run (collective timeout %d s)%n", seconds,
                DEFAULT_DDP_TIMEOUT.toSeconds());
        assertThat(e).isNotNull();
        assertThat(e.getMessage()).as("rank 0 names rank 1's error").contains("rank 1")
                .contains("listener broke at step 3");
        assertThat(seconds).isLessThan(60);
    }

    /**
     * The agreement point itself: rank 1 fails before it (as a model, tokenizer or data load that fails on one
     * rank only: no collective is running), rank 0 waits there and stops at once with rank 1's message.
     */
    @Test
    void aRankThatFailsBeforeTheAgreementPointStopsTheWaitingRankAtOnce() {
        long t0 = System.nanoTime();
        Throwable e = catchThrowable(() -> new ThreadLauncher(3, DEFAULT_DDP_TIMEOUT, Strategies::create).run(g -> {
            if (g.spec().rank() == 1) {
                Thread.sleep(500);
                throw new IllegalStateException("tokenizer.json on rank 1 is not JSON");
            }
            g.agree("loaded");
            return null;
        }));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertThat(e).hasMessage("rank 1 failed: tokenizer.json on rank 1 is not JSON");
        assertThat(e.getSuppressed()).extracting(Throwable::getMessage).containsExactlyInAnyOrder(
                "tokenizer.json on rank 1 is not JSON", "rank 1 failed: tokenizer.json on rank 1 is not JSON");
        assertThat(seconds).isLessThan(30);
    }
}
