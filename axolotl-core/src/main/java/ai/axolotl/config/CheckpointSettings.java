package ai.axolotl.config;

import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.Positive;
import jakarta.validation.constraints.PositiveOrZero;

import java.io.Serializable;

/**
 * Where results go and when checkpoints are written.
 *
 * @param outputDir directory for checkpoints, metrics.jsonl and the exported model
 * @param saveSteps steps between checkpoints; null: from saves_per_epoch, else none until the end
 * @param savesPerEpoch checkpoints per epoch; null when save_steps is used
 * @param saveTotalLimit most checkpoints kept (oldest deleted first); 0: keep all
 * @param saveStrategy {@code steps}, {@code epoch} or {@code no}
 * @param saveOnlyModel write only the model in checkpoints (such a checkpoint cannot be resumed)
 * @param resumeFromCheckpoint a checkpoint directory to resume from, {@code latest} for the newest in
 *     output_dir, or null
 * @param overwriteOutputDir a fresh run into an output_dir holding another run's checkpoints deletes them (else it
 *     is refused naming them)
 */
public record CheckpointSettings(
        @NotBlank String outputDir,
        @Positive Integer saveSteps,
        @Positive Integer savesPerEpoch,
        @PositiveOrZero int saveTotalLimit,
        String saveStrategy,
        boolean saveOnlyModel,
        String resumeFromCheckpoint,
        boolean overwriteOutputDir) implements Serializable {

    /** The same settings writing to another directory. */
    public CheckpointSettings withOutputDir(String dir) {
        return new CheckpointSettings(dir, saveSteps, savesPerEpoch, saveTotalLimit, saveStrategy, saveOnlyModel,
                resumeFromCheckpoint, overwriteOutputDir);
    }

    /** The same settings resuming from {@code from} (a checkpoint directory, {@code latest}, or null). */
    public CheckpointSettings withResumeFromCheckpoint(String from) {
        return new CheckpointSettings(outputDir, saveSteps, savesPerEpoch, saveTotalLimit, saveStrategy, saveOnlyModel,
                from, overwriteOutputDir);
    }
}
