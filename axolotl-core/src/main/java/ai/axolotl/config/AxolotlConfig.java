package ai.axolotl.config;

import jakarta.validation.Valid;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;

import java.io.Serializable;
import java.util.List;

/**
 * The one validated, immutable configuration of a training run. Both the YAML loader ({@link ConfigLoader}) and
 * the fluent builder produce it through {@link ConfigBinder}, so equal settings give equal objects.
 *
 * @param model which model and how it is held
 * @param datasets training data
 * @param data how rows are made
 * @param training batch sizes, length and cadence
 * @param optimizer optimizer settings
 * @param scheduler learning-rate schedule
 * @param checkpoint outputs and checkpoints
 * @param precision numeric precision
 * @param parallel distributed-training settings
 */
public record AxolotlConfig(
        @NotNull @Valid ModelSettings model,
        @NotEmpty(message = "at least one dataset is required") List<@Valid DatasetConfig> datasets,
        @NotNull @Valid DataSettings data,
        @NotNull @Valid TrainingSettings training,
        @NotNull @Valid OptimizerSettings optimizer,
        @NotNull @Valid SchedulerSettings scheduler,
        @NotNull @Valid CheckpointSettings checkpoint,
        @NotNull @Valid PrecisionSettings precision,
        @NotNull @Valid ParallelSettings parallel) implements Serializable {

    /** Copies the dataset list so the record stays immutable. */
    public AxolotlConfig {
        datasets = datasets == null ? null : List.copyOf(datasets);
    }

    /** The same config with other checkpoint settings. */
    public AxolotlConfig withCheckpoint(CheckpointSettings k) {
        return new AxolotlConfig(model, datasets, data, training, optimizer, scheduler, k, precision, parallel);
    }

    /** The same config with other data settings. */
    public AxolotlConfig withData(DataSettings d) {
        return new AxolotlConfig(model, datasets, d, training, optimizer, scheduler, checkpoint, precision, parallel);
    }

    /** The same config with other distributed settings. */
    public AxolotlConfig withParallel(ParallelSettings p) {
        return new AxolotlConfig(model, datasets, data, training, optimizer, scheduler, checkpoint, precision, p);
    }
}
