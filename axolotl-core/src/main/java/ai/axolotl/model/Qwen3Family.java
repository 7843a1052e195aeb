package ai.axolotl.model;

import java.util.List;
import java.util.Map;

/**
 * Qwen3 dense ({@code model_type: qwen3}): Qwen2's layout with an explicit {@code head_dim} (128 when absent, so
 * q and o are not square), an RMSNorm over {@code head_dim} on every query and key head before RoPE
 * ({@code q_norm}, {@code k_norm}, Llama-style), and {@code attention_bias} on q, k, v and o.
 */
final class Qwen3Family extends Qwen2Family {
    private static final Deltas DELTAS = new Deltas(Deltas.NormStyle.LLAMA, true, false, false,
            Deltas.Activation.SILU);

    @Override
    public String modelType() {
        return "qwen3";
    }

    @Override
    public List<String> architectures() {
        return List.of("Qwen3ForCausalLM");
    }

    @Override
    public String decoderLayerClass() {
        return "Qwen3DecoderLayer";
    }

    @Override
    public Deltas deltas() {
        return DELTAS;
    }

    @Override
    DecoderKeys.Defaults defaults() {
        return new DecoderKeys.Defaults(128, false, 1e-6, 10000, 32768);
    }

    @Override
    void biases(ConfigJson j, DecoderKeys.Read r) {
        boolean attentionBias = j.bool("attention_bias", false);
        r.qkvBias = attentionBias;
        r.oBias = attentionBias;
    }

    @Override
    public void writeKeys(ModelConfig c, Map<String, Object> out) {
        super.writeKeys(c, out);
        out.put("attention_bias", c.qkvBias());
    }
}
