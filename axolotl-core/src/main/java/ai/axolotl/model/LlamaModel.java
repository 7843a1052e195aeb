package ai.axolotl.model;

import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Llama decoder ({@code LlamaForCausalLM} semantics) held as float32 leaf tensors with HF names, run as an
 * ordered list of {@link ModelUnit}s: embedding, each decoder layer, then final norm and head.
 */
public final class LlamaModel implements AutoCloseable {
    private final LlamaConfig config;
    private final Map<String, Tensor> parameters;
    private final List<ModelUnit> units;
    private final ModelParallelism parallel;
    private final AttentionKernel attention;

    private LlamaModel(LlamaConfig config, Map<String, Tensor> parameters, AttentionKernel attention) {
        this(config, parameters, attention, ModelParallelism.NONE);
    }

    private LlamaModel(LlamaConfig config, Map<String, Tensor> parameters, AttentionKernel attention,
                       ModelParallelism parallel) {
        this.config = config;
        this.parallel = parallel;
        this.attention = attention;
        this.parameters = Collections.unmodifiableMap(parameters);
        List<ModelUnit> u = new ArrayList<>();
        Tensor embed = parameters.get(EmbeddingUnit.WEIGHT);
        u.add(new EmbeddingUnit(embed, parallel));
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            Map<String, Tensor> lp = new LinkedHashMap<>();
            for (String n : DecoderLayerUnit.parameterNames(i)) {
                lp.put(n, parameters.get(n));
            }
            u.add(new DecoderLayerUnit(i, config, lp, attention, parallel));
        }
        Map<String, Tensor> hp = new LinkedHashMap<>();
        hp.put(HeadUnit.NORM, parameters.get(HeadUnit.NORM));
        Tensor out = embed;
        if (!config.tieWordEmbeddings()) {
            out = parameters.get(HeadUnit.LM_HEAD);
            hp.put(HeadUnit.LM_HEAD, out);
        }
        u.add(new HeadUnit(config, hp, out, parallel));
        this.units = List.copyOf(u);
    }

    /** HF names of every parameter of a model of this shape, in the model's fixed order. */
    public static List<String> parameterNames(LlamaConfig config) {
        List<String> names = new ArrayList<>();
        names.add(EmbeddingUnit.WEIGHT);
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            names.addAll(List.of(DecoderLayerUnit.parameterNames(i)));
        }
        names.add(HeadUnit.NORM);
        if (!config.tieWordEmbeddings()) {
            names.add(HeadUnit.LM_HEAD);
        }
        return names;
    }

    /** Expected shape of a named parameter. */
    public static long[] parameterShape(LlamaConfig c, String name) {
        long h = c.hiddenSize();
        long kv = (long) c.numKeyValueHeads() * c.headDim();
        if (name.equals(EmbeddingUnit.WEIGHT) || name.equals(HeadUnit.LM_HEAD)) {
            return new long[] {c.vocabSize(), h};
        }
        if (name.endsWith("layernorm.weight") || name.equals(HeadUnit.NORM)) {
            return new long[] {h};
        }
        if (name.endsWith("q_proj.weight") || name.endsWith("o_proj.weight")) {
            return new long[] {h, h};
        }
        if (name.endsWith("k_proj.weight") || name.endsWith("v_proj.weight")) {
            return new long[] {kv, h};
        }
        if (name.endsWith("gate_proj.weight") || name.endsWith("up_proj.weight")) {
            return new long[] {c.intermediateSize(), h};
        }
        if (name.endsWith("down_proj.weight")) {
            return new long[] {h, c.intermediateSize()};
        }
        throw new IllegalArgumentException("not a Llama parameter: " + name);
    }

    /**
     * How a parameter is laid out under tensor parallelism (Megatron): q/k/v/gate/up and the output head split by
     * output features, o/down by input features, the embedding by vocabulary rows, the norms replicated.
     */
    public static TensorParallelStyle tensorParallelStyle(String name) {
        if (name.equals(EmbeddingUnit.WEIGHT)) {
            return TensorParallelStyle.VOCAB;
        }
        if (name.equals(HeadUnit.LM_HEAD)) {
            return TensorParallelStyle.COLUMN;
        }
        if (name.endsWith("layernorm.weight") || name.equals(HeadUnit.NORM)) {
            return TensorParallelStyle.REPLICATED;
        }
        if (name.endsWith("o_proj.weight") || name.endsWith("down_proj.weight")) {
            return TensorParallelStyle.ROW;
        }
        if (name.endsWith("_proj.weight")) {
            return TensorParallelStyle.COLUMN;
        }
        throw new IllegalArgumentException("not a Llama parameter: " + name);
    }

    /**
     * What a tensor-parallel degree cannot split evenly in a model of this shape, one message per problem (empty
     * when {@code tp} divides attention heads, key/value heads, intermediate size and vocabulary).
     */
    public static List<String> tensorParallelProblems(LlamaConfig c, int tp) {
        List<String> problems = new ArrayList<>();
        if (c.numAttentionHeads() % tp != 0) {
            problems.add("num_attention_heads (" + c.numAttentionHeads() + ")");
        }
        if (c.numKeyValueHeads() % tp != 0) {
            problems.add("num_key_value_heads (" + c.numKeyValueHeads() + "; key/value heads are not replicated "
                    + "across tensor-parallel ranks)");
        }
        if (c.intermediateSize() % tp != 0) {
            problems.add("intermediate_size (" + c.intermediateSize() + ")");
        }
        if (c.vocabSize() % tp != 0) {
            problems.add("vocab_size (" + c.vocabSize() + ")");
        }
        return problems;
    }

    /** The device the model's parameters are on (all of them: {@link #to} moves them together). */
    public Device device() {
        return Device.of(Tensors.deviceName(parameters.get(EmbeddingUnit.WEIGHT)), "where the model's parameters are");
    }

    /**
     * This model with every parameter on {@code device}: this model when they are all there already, else a new
     * model of moved float leaves that require grad (same names, shapes, values, layers and parallelism), and this
     * one closed. Each parameter is moved and released before the next, so the host never holds two copies of the
     * model. The one place the trainer puts a model on its device.
     */
    public LlamaModel to(Device device) {
        String target = device.name();
        boolean there = true;
        for (Tensor p : parameters.values()) {
            there &= Tensors.deviceName(p).equals(target);
        }
        if (there) {
            return this;
        }
        Map<String, Tensor> moved = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
            Tensor p;
            try (Tensor d = e.getValue().detach()) {
                p = Tensors.to(d, device);
            }
            p.requires_grad_(true);
            moved.put(e.getKey(), p);
            e.getValue().close();
        }
        return new LlamaModel(config, moved, attention, parallel);
    }

    /**
     * This model's tensor-parallel version for one rank: every sharded parameter replaced by a copy of the rank's
     * slice ({@link #tensorParallelStyle}), the norms copied whole, and the layers built to communicate through
     * {@code parallel}. This model is left as it is (the caller closes it).
     */
    public LlamaModel tensorParallel(ModelParallelism parallel) {
        int tp = parallel.size();
        requireTensorParallel(config, tp);
        Map<String, Tensor> local = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
            int dim = tensorParallelStyle(e.getKey()).shardDim();
            Tensor p;
            try (Tensor d = e.getValue().detach()) {
                if (dim < 0) {
                    p = d.clone();
                } else {
                    long len = d.size(dim) / tp;
                    try (Tensor slice = d.narrow(dim, parallel.rank() * len, len)) {
                        p = slice.clone();
                    }
                }
            }
            p.requires_grad_(true);
            local.put(e.getKey(), p);
        }
        return new LlamaModel(config, local, new SdpaAttention(), parallel);
    }

    /**
     * The shape of a named parameter as this model holds it: the global shape ({@link #parameterShape}) with the
     * dimension its {@link #tensorParallelStyle} splits divided by this model's tensor-parallel degree (the global
     * shape for the dense model).
     */
    public long[] localShape(String name) {
        return localShape(config, name, parallel.size());
    }

    /** The shape of a named parameter on a rank of tensor-parallel degree {@code tp}. */
    public static long[] localShape(LlamaConfig config, String name, int tp) {
        long[] shape = parameterShape(config, name);
        int dim = tensorParallelStyle(name).shardDim();
        if (dim >= 0) {
            shape[dim] /= tp;
        }
        return shape;
    }

    /** How this model's layers communicate ({@link ModelParallelism#NONE} for the dense model). */
    public ModelParallelism parallelism() {
        return parallel;
    }

    /** Summed next-token cross entropy of the head's output (through the parallelism: loss parallel under TP). */
    public Tensor lossSum(Tensor logits, Tensor labels) {
        return parallel.lossSum(logits, labels);
    }

    /**
     * A freshly initialised model: every linear and the embedding drawn from normal(0, 0.02), norms set to one,
     * in the fixed parameter order from libtorch's generator seeded with {@code seed}.
     */
    public static LlamaModel initialise(LlamaConfig config, long seed) {
        synchronized (LlamaModel.class) { // libtorch's default generator is process-wide (ranks as threads)
            return initialiseLocked(config, seed);
        }
    }

    private static LlamaModel initialiseLocked(LlamaConfig config, long seed) {
        torch.manual_seed(seed);
        Map<String, Tensor> params = new LinkedHashMap<>();
        for (String name : parameterNames(config)) {
            long[] shape = parameterShape(config, name);
            Tensor t;
            if (shape.length == 1) {
                t = torch.ones(shape, new TensorOptions(ScalarType.Float));
            } else {
                t = torch.empty(shape, new TensorOptions(ScalarType.Float), null);
                t.normal_(0.0, 0.02, new GeneratorOptional());
            }
            t.requires_grad_(true);
            params.put(name, t);
        }
        return new LlamaModel(config, params, new SdpaAttention());
    }

    /**
     * Builds a model over the given weights (any float type; converted to float32 leaves that require grad).
     * Every expected parameter must be present with the right shape; extra entries are an error.
     */
    public static LlamaModel fromWeights(LlamaConfig config, Map<String, Tensor> weights, String source) {
        return fromWeights(config, weights, source, ScalarType.Float);
    }

    /** As {@link #fromWeights(LlamaConfig, Map, String)}, with parameters of the given element type. */
    public static LlamaModel fromWeights(LlamaConfig config, Map<String, Tensor> weights, String source,
                                         ScalarType paramType) {
        Map<String, Tensor> params = new LinkedHashMap<>();
        List<String> expected = parameterNames(config);
        for (String name : expected) {
            Tensor w = weights.get(name);
            if (w == null) {
                throw new IllegalArgumentException(source + ": missing tensor '" + name + "'");
            }
            long[] shape = parameterShape(config, name);
            if (!Arrays.equals(shape, w.shape())) {
                throw new IllegalArgumentException(source + ": tensor '" + name + "' has shape "
                        + Arrays.toString(w.shape()) + ", expected " + Arrays.toString(shape));
            }
            params.put(name, trainableCopy(w, paramType));
        }
        for (String name : weights.keySet()) {
            if (!expected.contains(name) && !name.endsWith("rotary_emb.inv_freq")) {
                throw new IllegalArgumentException(source + ": unexpected tensor '" + name
                        + "' (not a parameter of LlamaForCausalLM with this config.json)");
            }
        }
        return new LlamaModel(config, params, new SdpaAttention());
    }

    /**
     * Checks that {@code tp} divides what tensor parallel splits.
     *
     * @throws IllegalArgumentException naming every factor it does not divide
     */
    public static void requireTensorParallel(LlamaConfig config, int tp) {
        List<String> problems = tensorParallelProblems(config, tp);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("tensor_parallel_size (" + tp + ") must divide "
                    + String.join(", ", problems));
        }
    }

    /**
     * A tensor-parallel rank's model over the slices it holds (any float type; converted to float32 leaves that
     * require grad), read directly from the weights without the whole model: every slice must have the rank's
     * {@link #localShape}.
     */
    public static LlamaModel fromSlices(LlamaConfig config, Map<String, Tensor> slices, ModelParallelism parallel,
                                        String source) {
        int tp = parallel.size();
        requireTensorParallel(config, tp);
        Map<String, Tensor> params = new LinkedHashMap<>();
        for (String name : parameterNames(config)) {
            Tensor slice = slices.get(name);
            long[] shape = localShape(config, name, tp);
            if (slice == null || !Arrays.equals(shape, slice.shape())) {
                throw new IllegalArgumentException(source + ": slice of '" + name + "' is "
                        + (slice == null ? "missing" : Arrays.toString(slice.shape())) + ", expected "
                        + Arrays.toString(shape));
            }
            params.put(name, trainableCopy(slice, ScalarType.Float));
        }
        return new LlamaModel(config, params, new SdpaAttention(), parallel);
    }

    /** A copy of {@code w} as a leaf of type {@code type} that requires grad. */
    private static Tensor trainableCopy(Tensor w, ScalarType type) {
        Tensor p = w.detach().to(type).clone();
        p.requires_grad_(true);
        return p;
    }

    /**
     * A model whose parameters have no storage yet (zero elements, same names): for ranks that will receive their
     * partitions from rank 0 instead of reading or initialising the weights.
     */
    public static LlamaModel placeholder(LlamaConfig config) {
        Map<String, Tensor> params = new LinkedHashMap<>();
        for (String name : parameterNames(config)) {
            Tensor t = torch.empty(new long[] {0}, new TensorOptions(ScalarType.Float), null);
            t.requires_grad_(true);
            params.put(name, t);
        }
        return new LlamaModel(config, params, new SdpaAttention());
    }

    /** The model's shape. */
    public LlamaConfig config() {
        return config;
    }

    /** Every parameter by HF name, in the fixed order (tied weights appear once). */
    public Map<String, Tensor> parameters() {
        return parameters;
    }

    /** The units in forward order. */
    public List<ModelUnit> units() {
        return units;
    }

    /** Total number of parameter elements (of the declared shapes, also for placeholders and freed parameters). */
    public long parameterCount() {
        long n = 0;
        for (String name : parameters.keySet()) {
            long e = 1;
            for (long d : parameterShape(config, name)) {
                e *= d;
            }
            n += e;
        }
        return n;
    }

    /** Runs every unit forward on token ids and returns float32 logits [B, T, vocab]. */
    public Tensor logits(Tensor inputIds, ForwardContext ctx) {
        return forwardUnits(units, inputIds, ctx);
    }

    /** Runs units in order from token ids, releasing each intermediate; returns the last unit's output. */
    public static Tensor forwardUnits(List<ModelUnit> units, Tensor inputIds, ForwardContext ctx) {
        Tensor h = inputIds;
        boolean first = true;
        for (ModelUnit u : units) {
            Tensor next = u.forward(h, ctx);
            if (!first) {
                h.close();
            }
            first = false;
            h = next;
        }
        return h;
    }

    @Override
    public void close() {
        for (Tensor t : parameters.values()) {
            t.close();
        }
    }
}
