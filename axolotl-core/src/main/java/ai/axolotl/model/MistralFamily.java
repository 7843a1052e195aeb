package ai.axolotl.model;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Mistral dense ({@code model_type: mistral}): Llama's decoder with {@code sliding_window} on every layer (4096
 * when the key is absent, none when it is null, as transformers reads it) and an explicit {@code head_dim}; no
 * biases.
 */
final class MistralFamily implements ModelFamily {
    @Override
    public String modelType() {
        return "mistral";
    }

    @Override
    public List<String> architectures() {
        return List.of("MistralForCausalLM");
    }

    @Override
    public String decoderLayerClass() {
        return "MistralDecoderLayer";
    }

    @Override
    public Deltas deltas() {
        return Deltas.LLAMA;
    }

    @Override
    public ModelConfig read(ConfigJson j) {
        boolean kvGiven = j.value("num_key_value_heads") != null;
        DecoderKeys.Read r = DecoderKeys.read(j, this, new DecoderKeys.Defaults(0, false, 1e-6, 10000, 4096 * 32));
        if (!kvGiven) {
            r.kvHeads = 8; // MistralConfig's default
        }
        DecoderKeys.activation(j, "hidden_act", Deltas.Activation.SILU);
        j.requireValue("attention_bias", Boolean.FALSE::equals,
                "attention_bias true (Mistral's layers have no biases; transformers ignores the key)");
        r.window = j.has("sliding_window") ? j.integer("sliding_window", 0) : 4096;
        r.sliding = Collections.nCopies(r.layers, r.window > 0);
        return r.build(j);
    }

    @Override
    public void writeKeys(ModelConfig c, Map<String, Object> out) {
        out.put("hidden_act", c.deltas().activation().hfName());
        out.put("sliding_window", c.slidingWindow() > 0 ? c.slidingWindow() : null);
    }
}
