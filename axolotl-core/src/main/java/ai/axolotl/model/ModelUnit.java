package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

import java.util.Map;

/**
 * One step of the model's forward pass that a sharding strategy can act around: the embedding, one decoder
 * layer, or the final norm with the output head. The trainer runs units in order for forward and in reverse for
 * backward.
 */
public interface ModelUnit {
    /** A short unique name: {@code embed}, {@code layers.3}, {@code head}. */
    String name();

    /**
     * The module class this unit stands for, as Hugging Face names it ({@code LlamaDecoderLayer} for a decoder
     * layer); FSDP's {@code transformer_layer_cls_to_wrap} is matched against it.
     */
    String moduleClass();

    /** The parameters this unit owns, by HF name, in a fixed order. A tied weight belongs to the embedding. */
    Map<String, Tensor> parameters();

    /**
     * Every parameter the unit's forward reads: its own, plus a tied weight it borrows (the head with tied
     * embeddings). A strategy that frees parameters between uses gathers these.
     */
    default Map<String, Tensor> usedParameters() {
        return parameters();
    }

    /**
     * The tensors the unit's forward and backward read that take no gradient and never change (an adapter's
     * frozen base: its full-precision parameters, and each NF4 weight's storage as bitsandbytes names it:
     * {@code <weight>} the packed codes, {@code <weight>.absmax}, {@code <weight>.nested_absmax}), by name, a
     * borrowed tied weight included. Empty for a full fine-tune. A strategy that frees parameters between uses may
     * shard these too, gathering them around the unit as it does its parameters; it never writes their values.
     */
    default Map<String, Tensor> frozenTensors() {
        return Map.of();
    }

    /** Runs the unit. The input is token ids for the embedding and hidden states otherwise. */
    Tensor forward(Tensor input, ForwardContext ctx);
}
