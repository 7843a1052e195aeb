package ai.axolotl.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Qwen2 / Qwen2.5 ({@code model_type: qwen2}): Llama's decoder with biases on q, k and v (not o). With
 * {@code use_sliding_window} the layers from {@code max_window_layers} on attend through {@code sliding_window};
 * without it both keys have no effect and are written back as read.
 */
class Qwen2Family implements ModelFamily {
    @Override
    public String modelType() {
        return "qwen2";
    }

    @Override
    public List<String> architectures() {
        return List.of("Qwen2ForCausalLM");
    }

    @Override
    public String decoderLayerClass() {
        return "Qwen2DecoderLayer";
    }

    @Override
    public Deltas deltas() {
        return Deltas.LLAMA;
    }

    /** Defaults of absent keys. */
    DecoderKeys.Defaults defaults() {
        return new DecoderKeys.Defaults(0, false, 1e-6, 10000, 32768);
    }

    @Override
    public ModelConfig read(ConfigJson j) {
        DecoderKeys.Read r = DecoderKeys.read(j, this, defaults());
        DecoderKeys.activation(j, "hidden_act", Deltas.Activation.SILU);
        biases(j, r);
        j.requireValue("use_mrope", Boolean.FALSE::equals, "use_mrope (Qwen2-VL's multimodal rotary embedding)");
        slidingWindow(j, r);
        return r.build(j);
    }

    /** Qwen2: q, k and v have biases, o has none. */
    void biases(ConfigJson j, DecoderKeys.Read r) {
        r.qkvBias = true;
        r.oBias = false;
    }

    /** {@code use_sliding_window}, {@code sliding_window}, {@code max_window_layers} and {@code layer_types}. */
    static void slidingWindow(ConfigJson j, DecoderKeys.Read r) {
        if (!j.bool("use_sliding_window", false)) {
            j.noEffect("sliding_window", "max_window_layers");
            r.sliding = DecoderKeys.layerTypes(j, r.layers, r.sliding);
            if (r.sliding.contains(true)) {
                throw j.error("layer_types", j.value("layer_types"), "full_attention only when use_sliding_window "
                        + "is false");
            }
            return;
        }
        r.window = j.integer("sliding_window", 4096);
        int from = j.integer("max_window_layers", 28);
        List<Boolean> sliding = new ArrayList<>();
        for (int i = 0; i < r.layers; i++) {
            sliding.add(r.window > 0 && i >= from);
        }
        r.sliding = DecoderKeys.layerTypes(j, r.layers, sliding);
    }

    @Override
    public void writeKeys(ModelConfig c, Map<String, Object> out) {
        out.put("hidden_act", c.deltas().activation().hfName());
        if (c.slidingLayers().contains(true)) {
            out.put("use_sliding_window", true);
            out.put("sliding_window", c.slidingWindow());
            out.put("layer_types", c.slidingLayers().stream()
                    .map(s -> s ? "sliding_attention" : "full_attention").toList());
        } else {
            out.put("use_sliding_window", false);
        }
    }
}
