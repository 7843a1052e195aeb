package ai.axolotl.model;

import java.util.List;
import java.util.Map;

/**
 * A model family: how one {@code model_type}'s {@code config.json} is read (strictly: every key acted on, known to
 * have no effect, or refused naming it) and written back, and what it changes in the one decoder ({@link Deltas}).
 * Adding a family is one implementation and one line in {@link ModelFamilies}; nothing outside the model package
 * learns its name.
 */
public interface ModelFamily {
    /** The {@code model_type} of its {@code config.json} ({@code llama}, {@code qwen3}, ...). */
    String modelType();

    /** The {@code architectures} values it reads; the first is the one the export writes. */
    List<String> architectures();

    /** Hugging Face's decoder-layer class ({@code LlamaDecoderLayer}): FSDP's wrap class and the layer units'. */
    String decoderLayerClass();

    /** What the family changes in the decoder. */
    Deltas deltas();

    /** Reads the family's keys from a {@code config.json} (the reader refuses what nobody reads afterwards). */
    ModelConfig read(ConfigJson json);

    /** Writes the family's own keys (after the common ones) for the export. */
    void writeKeys(ModelConfig config, Map<String, Object> out);
}
