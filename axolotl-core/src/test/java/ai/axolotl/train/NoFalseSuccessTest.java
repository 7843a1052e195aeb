package ai.axolotl.train;

import ai.axolotl.testing.Console;
import ai.axolotl.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A run never reports success without doing what it says (issue 25, item 6). */
class NoFalseSuccessTest {
    static String run(Path dir, String... overrides) {
        return Console.capture(() -> {
            try (Trainer t = new Trainer(TrainerTest.config(dir, overrides), new SingleProcessStrategy(), List.of(),
                    1)) {
                t.fit();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void resumingACheckpointPastMaxStepsSaysSoAndExportsItsModel(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        Path out = dir.resolve("out");
        run(dir, "max_steps=4", "save_steps=4", "output_dir=" + out);
        Files.delete(out.resolve("model.safetensors"));
        String log = run(dir, "max_steps=2", "output_dir=" + out, "resume_from_checkpoint=" + out.resolve("checkpoint-4"));
        assertThat(log).contains("the resumed checkpoint is at step 4, past the run's 2 steps");
        assertThat(out.resolve("model.safetensors")).as("the checkpoint's model is exported").exists();
    }

    @Test
    void aGradientNormStuckAtZeroIsWarnedNamingTheStep(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        String saturated = run(dir, "max_steps=8", "learning_rate=1000", "warmup_steps=0",
                "output_dir=" + dir.resolve("a"));
        // measured: at learning_rate 1000 the tiny model saturates after step 2 and its gradient norm is exactly 0
        assertThat(saturated).contains("step 5: the gradient norm has been exactly 0 for 3 steps");
        String healthy = run(dir, "max_steps=8", "output_dir=" + dir.resolve("b"));
        assertThat(healthy).doesNotContain("gradient norm has been exactly 0");
    }

    @Test
    void aDamagedOptimizerStateIsOneLineNamingTheFile(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        Path out = dir.resolve("out");
        run(dir, "max_steps=2", "save_steps=2", "output_dir=" + out);
        Path opt = out.resolve("checkpoint-2").resolve(SingleProcessStrategy.OPTIMIZER_FILE);
        byte[] bytes = Files.readAllBytes(opt);
        Files.write(opt, java.util.Arrays.copyOf(bytes, bytes.length / 3)); // truncated, as by a full disk
        try (Trainer t = new Trainer(TrainerTest.config(dir, "max_steps=4", "output_dir=" + out,
                "resume_from_checkpoint=" + out.resolve("checkpoint-2")), new SingleProcessStrategy(), List.of(), 1)) {
            org.assertj.core.api.Assertions.assertThatThrownBy(t::fit).isInstanceOf(TrainingException.class)
                    .hasMessageStartingWith(opt + ": not a readable libtorch archive (damaged, truncated, or not "
                            + "written by libtorch): ")
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n").doesNotEndWith(": "))
                    .hasMessageContaining("PytorchStreamReader failed reading zip archive");
        }
    }
}
