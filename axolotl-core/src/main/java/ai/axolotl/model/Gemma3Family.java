package ai.axolotl.model;

import java.util.List;
import java.util.Map;

/**
 * The text part of Gemma 3's multimodal checkpoints ({@code model_type: gemma3},
 * {@code Gemma3ForConditionalGeneration}: 4B, 12B, 27B): the nested {@code text_config} is read as
 * {@code gemma3_text} (with Gemma3TextConfig's defaults for the keys it omits), the weights are read from
 * {@code language_model.model.*} (original release) or {@code model.language_model.*} (newer saves), and the vision
 * tower and projector ({@code vision_config}, their tensors) are not trained: they are skipped, said once at load.
 * The export is the text model ({@code Gemma3ForCausalLM}, {@code gemma3_text}, {@code model.*} names), which
 * transformers and vLLM load as such.
 */
final class Gemma3Family implements ModelFamily {
    private final Gemma3TextFamily text = new Gemma3TextFamily();

    @Override
    public String modelType() {
        return "gemma3";
    }

    @Override
    public List<String> architectures() {
        return List.of("Gemma3ForConditionalGeneration");
    }

    @Override
    public String decoderLayerClass() {
        return text.decoderLayerClass();
    }

    @Override
    public Deltas deltas() {
        return text.deltas();
    }

    @Override
    public ModelConfig read(ConfigJson j) {
        j.value("model_type");
        j.value("architectures");
        Map<String, Object> textConfig = j.object("text_config");
        if (textConfig == null) {
            throw j.error("text_config", null, "the text model's config (a gemma3 checkpoint nests it)");
        }
        ConfigJson t = new ConfigJson(textConfig, j.file(), "text_config.");
        String type = t.string("model_type", "gemma3_text");
        if (!type.equals("gemma3_text")) {
            throw t.error("model_type", type, "gemma3_text");
        }
        ModelConfig c = text.read(t);
        // the vision side is not trained: read, carried nowhere (the export is the text model)
        j.noEffect("vision_config", "mm_tokens_per_image", "boi_token_index", "eoi_token_index", "image_token_index",
                "initializer_range", "torch_dtype", "dtype", "tie_word_embeddings");
        j.finish("gemma3");
        return c.withMultimodalTextPart(true);
    }

    @Override
    public void writeKeys(ModelConfig config, Map<String, Object> out) {
        text.writeKeys(config, out);
    }
}
