package ai.axolotl.model.adapter;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.model.CausalLm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.function.Consumer;

/** Applies a run's adapter settings to its model: the one entry point the trainer and the evaluator call. */
public final class Adapters {
    private Adapters() {}

    /**
     * {@code base} itself when every parameter trains; otherwise the {@link AdaptedModel} over it: LoRA initialised
     * from {@code seed}, or continued from {@code lora_model_dir} (whose {@code adapter_config.json} governs rank,
     * alpha and targets, and whose tensors replace the initial ones).
     *
     * @param warn where differences between the YAML and a loaded adapter's config are reported
     * @throws IllegalArgumentException one line naming the key, file or tensor
     */
    public static CausalLm apply(CausalLm base, AdapterSettings settings, long seed, Consumer<String> warn) {
        if (!settings.freezesBase()) {
            return base;
        }
        AdapterSettings s = settings;
        Path dir = settings.loraModelDir() == null ? null : Path.of(settings.loraModelDir());
        if (dir != null && settings.lora()) {
            s = PeftFiles.settingsFrom(dir, settings, warn);
        }
        AdaptedModel model = AdaptedModel.apply(base, s, seed);
        if (dir != null && settings.lora()) {
            try {
                PeftFiles.loadInto(dir, model);
            } catch (IOException e) {
                model.close();
                throw new UncheckedIOException("lora_model_dir: cannot read " + dir + ": " + e.getMessage(), e);
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
        }
        return model;
    }
}
