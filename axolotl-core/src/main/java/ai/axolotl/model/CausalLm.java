package ai.axolotl.model;

import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.HeldTensorBytes;
import org.bytedeco.pytorch.Tensor;

import java.util.List;
import java.util.Map;

/**
 * What the trainer and every parallelism see of a model: a causal language model run as an ordered list of
 * {@link ModelUnit}s, whose parameters are declared ({@link #spec}) so that strategies apply their layouts without
 * knowing the family. {@link DecoderModel} is the one implementation; families differ by declaration
 * ({@link ModelFamily}), not by class.
 */
public interface CausalLm extends AutoCloseable {
    /** The model's hyper-parameters and family. */
    ModelConfig config();

    /** Every parameter this rank holds by HF name, in the fixed order (tied weights appear once). */
    Map<String, Tensor> parameters();

    /** The units in forward order. */
    List<ModelUnit> units();

    /** What the model declares about a parameter (global shape, layouts, gradient placement, decay, init). */
    default ParameterSpec spec(String name) {
        return config().spec(name);
    }

    /** The shape of a named parameter as this model holds it (its tensor-parallel slice, or the global shape). */
    default long[] localShape(String name) {
        return spec(name).localShape(parallelism().size());
    }

    /** How this model's layers communicate ({@link ModelParallelism#NONE} for the dense model). */
    ModelParallelism parallelism();

    /** Summed next-token cross entropy of the head's output (through the parallelism: loss parallel under TP). */
    Tensor lossSum(Tensor logits, Tensor labels);

    /**
     * Summed cross entropy of the head's output [B, T, vocab (or this rank's slice)] against next-token targets
     * [B, T] at the same positions (-100 ignored): what training and evaluation compute, so that a row cut along
     * the sequence (context parallel) keeps its pairs.
     */
    default Tensor targetLossSum(Tensor logits, Tensor targets) {
        try (Tensor l = logits.reshape(-1, logits.size(2)); Tensor y = targets.reshape(-1)) {
            return parallelism().lossSumAligned(l, y);
        }
    }

    /** The device the parameters are on. */
    Device device();

    /** This model with every parameter on {@code device} (this model when they are there already, else a new one). */
    CausalLm to(Device device);

    /**
     * A model of this config over other tensors, its layers communicating through {@code parallel}: what a
     * tensor-parallel plan builds from the slices it cut. Each tensor must have its parameter's local shape for
     * {@code parallel.size()} ranks; they are copied as float32 leaves that require grad (the caller keeps and
     * closes the given ones). This model is left as it is.
     *
     * @param source what the tensors came from, for messages
     */
    CausalLm withParameters(Map<String, Tensor> parameters, ModelParallelism parallel, String source);

    /**
     * This model over the same parameter tensors (shared, not copied: close one of the two only), its units built
     * with another attention kernel and projection factory: the seams context parallel (a kernel that exchanges
     * keys and values) and adapters (LoRA projections over a frozen base) apply through. Layouts and communication
     * are kept.
     */
    CausalLm withComputation(AttentionKernel attention, ProjectionFactory projections);

    /** The attention kernel the layers run. */
    AttentionKernel attention();

    /** The factory the layers' projections were made by. */
    ProjectionFactory projections();

    /**
     * The parameters this model holds but does not train (an adapter's frozen base), by HF name; empty for a full
     * fine-tune. They are not in {@link #parameters()}: no strategy synchronises, clips, shards or steps them.
     */
    default Map<String, Tensor> frozenParameters() {
        return Map.of();
    }

    /**
     * Bytes of the frozen tensors the units read ({@link ModelUnit#frozenTensors()}) held now, read from their
     * storages, each once: the whole frozen base on one process; what is left of it where a strategy frees parts.
     */
    default long frozenBytesHeld() {
        HeldTensorBytes held = new HeldTensorBytes();
        for (ModelUnit u : units()) {
            u.frozenTensors().values().forEach(held::add);
        }
        return held.total();
    }

    /** Total number of parameter elements of the declared global shapes. */
    default long parameterCount() {
        long n = 0;
        for (String name : parameters().keySet()) {
            n += spec(name).numel();
        }
        return n;
    }

    /** The last unit: final norm and output projection (its hidden states and weight feed a chunked loss). */
    HeadUnit head();

    /** Runs every unit forward on token ids and returns float32 logits [B, T, vocab]. */
    Tensor logits(Tensor inputIds, ForwardContext ctx);

    @Override
    void close();
}
