package ai.axolotl.model;

import java.util.List;
import java.util.Map;

/**
 * Llama 2/3.x ({@code model_type: llama}): the reference decoder, with {@code rope_scaling} ({@code llama3},
 * {@code linear}), an explicit {@code head_dim}, {@code attention_bias} (q, k, v and o) and {@code mlp_bias}.
 */
final class LlamaFamily implements ModelFamily {
    @Override
    public String modelType() {
        return "llama";
    }

    @Override
    public List<String> architectures() {
        return List.of("LlamaForCausalLM");
    }

    @Override
    public String decoderLayerClass() {
        return "LlamaDecoderLayer";
    }

    @Override
    public Deltas deltas() {
        return Deltas.LLAMA;
    }

    @Override
    public ModelConfig read(ConfigJson j) {
        DecoderKeys.Read r = DecoderKeys.read(j, this, new DecoderKeys.Defaults(0, false, 1e-6, 10000, 2048));
        DecoderKeys.activation(j, "hidden_act", Deltas.Activation.SILU);
        boolean attentionBias = j.bool("attention_bias", false);
        r.qkvBias = attentionBias;
        r.oBias = attentionBias;
        r.mlpBias = j.bool("mlp_bias", false);
        return r.build(j);
    }

    @Override
    public void writeKeys(ModelConfig c, Map<String, Object> out) {
        DecoderKeys.writeLlamaLike(c, out);
    }
}
