package ai.axolotl.train;

import ai.axolotl.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A fresh run into an output_dir holding another run's checkpoints is refused naming them, unless
 * overwrite_output_dir (then they are deleted first); rotation never deletes the checkpoint just written. Before,
 * a new run with save_total_limit 1 saw each of its checkpoints deleted at once because the old checkpoint-6 sorted
 * after them, and resume_from_checkpoint: true then resumed the other run.
 */
class OutputDirClaimTest {
    @Test
    void anotherRunsCheckpointsAreRefusedOrOverwrittenAndNeverOutliveTheNewOnes(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        Path out = dir.resolve("out");
        TrainerTest.train(TrainerTest.config(dir, "max_steps=6", "save_steps=2", "save_total_limit=1"));
        assertThat(Checkpoints.list(out)).extracting(p -> p.getFileName().toString()).containsExactly("checkpoint-6");

        assertThatThrownBy(() -> TrainerTest.train(TrainerTest.config(dir, "max_steps=4", "save_steps=2",
                "save_total_limit=1"))).isInstanceOf(TrainingException.class)
                .hasMessageContaining("output_dir: " + out + " holds another run's checkpoints ([checkpoint-6])")
                .hasMessageContaining("overwrite_output_dir: true");
        assertThat(Checkpoints.list(out)).as("nothing deleted").hasSize(1);

        TrainerTest.train(TrainerTest.config(dir, "max_steps=4", "save_steps=2", "save_total_limit=1",
                "overwrite_output_dir=true"));
        assertThat(Checkpoints.list(out)).extracting(p -> p.getFileName().toString()).containsExactly("checkpoint-4");

        // resuming is not a fresh run: the checkpoints are this run's to continue
        TrainerTest.train(TrainerTest.config(dir, "max_steps=6", "save_steps=2", "save_total_limit=2",
                "resume_from_checkpoint=true"));
        assertThat(Checkpoints.list(out)).extracting(p -> p.getFileName().toString())
                .containsExactly("checkpoint-4", "checkpoint-6");
    }

    @Test
    void rotationKeepsTheCheckpointJustWrittenEvenWhenOlderOnesSortAfterIt(@TempDir Path dir) throws Exception {
        for (int step : new int[] {2, 6}) {
            Path c = java.nio.file.Files.createDirectories(dir.resolve("checkpoint-" + step));
            java.nio.file.Files.writeString(c.resolve(TrainerState.FILE), "{}");
        }
        Path written = dir.resolve("checkpoint-2");
        assertThat(Checkpoints.rotate(dir, 1, written)).extracting(p -> p.getFileName().toString())
                .containsExactly("checkpoint-6");
        assertThat(written).isDirectory();
    }

    @Test
    void anOutputDirThatIsAFileIsRefusedBeforeAnythingLoads(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        Path file = java.nio.file.Files.writeString(dir.resolve("not-a-dir"), "x");
        // base_model is broken too: the output_dir check comes first, before the model is read
        java.nio.file.Files.writeString(dir.resolve("model/config.json"), "{ broken");
        assertThatThrownBy(() -> TrainerTest.train(TrainerTest.config(dir, "output_dir=" + file)))
                .isInstanceOf(TrainingException.class).hasMessage("output_dir: " + file + " is a file, not a directory");
    }
}
