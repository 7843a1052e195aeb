package ai.axolotl.train;

import ai.axolotl.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** One run owns an output_dir: a second is refused naming the holder; a dead holder's lock is taken over. */
class OutputDirLockTest {
    @Test
    void aSecondRunIsRefusedNamingTheHolderUntilTheFirstEnds(@TempDir Path dir) {
        try (OutputDirLock first = OutputDirLock.acquire(dir)) {
            assertThatThrownBy(() -> OutputDirLock.acquire(dir)).isInstanceOf(TrainingException.class)
                    .hasMessageStartingWith("output_dir: " + dir + " is in use by another run (process "
                            + ProcessHandle.current().pid() + " on ")
                    .hasMessageContaining("delete " + dir.resolve(OutputDirLock.FILE) + " if that run is gone");
        }
        assertThat(dir.resolve(OutputDirLock.FILE)).doesNotExist();
        OutputDirLock.acquire(dir).close();
    }

    @Test
    void theLockOfAProcessThatIsGoneIsTakenOver(@TempDir Path dir) throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        var holder = OutputDirLock.describe(gone.toHandle()).put("pid", gone.pid());
        Files.writeString(dir.resolve(OutputDirLock.FILE), holder.toString());
        try (OutputDirLock taken = OutputDirLock.acquire(dir)) {
            assertThat(Files.readString(dir.resolve(OutputDirLock.FILE)))
                    .contains("\"pid\":" + ProcessHandle.current().pid());
        }
        var reused = OutputDirLock.describe(ProcessHandle.current()).put("process_start", "1999-01-01T00:00:00Z");
        assertThat(OutputDirLock.stale(reused)).as("the id now names a process started at another time").isTrue();
        var elsewhere = OutputDirLock.describe(ProcessHandle.current()).put("host", "another-host").put("pid", 1);
        assertThat(OutputDirLock.stale(elsewhere)).as("another host's process cannot be judged here").isFalse();
    }

    @Test
    void trainingRefusesAnOutputDirAnotherRunHoldsAndKeepsItsFiles(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        Path out = dir.resolve("out");
        Files.createDirectories(out.resolve("checkpoint-3"));
        try (OutputDirLock other = OutputDirLock.acquire(out);
             Trainer t = new Trainer(TrainerTest.config(dir, "max_steps=2", "output_dir=" + out,
                     "overwrite_output_dir=true"), new SingleProcessStrategy(), List.of(), 1)) {
            assertThatThrownBy(t::fit).isInstanceOf(TrainingException.class).hasMessageContaining("is in use by "
                    + "another run");
            assertThat(out.resolve("checkpoint-3")).as("nothing of the holder's is touched").exists();
        }
        try (Trainer t = new Trainer(TrainerTest.config(dir, "max_steps=2", "output_dir=" + out,
                "overwrite_output_dir=true"), new SingleProcessStrategy(), List.of(), 1)) {
            t.fit();
        }
        assertThat(out.resolve(OutputDirLock.FILE)).as("released when the run ends").doesNotExist();
        assertThat(out.resolve("model.safetensors")).exists();
    }
}
