package ai.axolotl.train;

import ai.axolotl.testing.Console;
import ai.axolotl.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A sequence_len past the model's max_position_embeddings (512 here) is said, as Axolotl says it; within, not. */
class SequenceLengthWarningTest {
    @Test
    void aSequenceLongerThanTheModelsPositionsIsWarned(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 400);
        for (int len : new int[] {64, 600}) {
            String log = Console.capture(() -> {
                try (Trainer t = new Trainer(TrainerTest.config(dir, "max_steps=1", "sequence_len=" + len,
                        "output_dir=" + dir.resolve("out" + len)), new SingleProcessStrategy(), List.of(), 1)) {
                    t.fit();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            if (len > 512) {
                assertThat(log).contains("sequence_len (600) is longer than base_model's max_position_embeddings "
                        + "(512)");
            } else {
                assertThat(log).doesNotContain("max_position_embeddings");
            }
        }
    }
}
