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
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The one decoder of every built family ({@code LlamaForCausalLM} semantics plus the family's declared
 * {@link Deltas}), held as float32 leaf tensors with HF names and run as an ordered list of {@link ModelUnit}s:
 * embedding, each decoder layer, then final norm and head.
 */
public final class DecoderModel implements CausalLm {
    private final ModelConfig config;
    private final Map<String, Tensor> parameters;
    private final List<ModelUnit> units;
    private final ModelParallelism parallel;
    private final AttentionKernel attention;
    private final ProjectionFactory projections;
    private final HeadUnit head;

    private DecoderModel(ModelConfig config, Map<String, Tensor> parameters, AttentionKernel attention,
                         ProjectionFactory projections, ModelParallelism parallel) {
        this.config = config;
        this.parallel = parallel;
        this.attention = attention;
        this.projections = projections;
        this.parameters = Collections.unmodifiableMap(parameters);
        List<ModelUnit> u = new ArrayList<>();
        Tensor embed = parameters.get(EmbeddingUnit.WEIGHT);
        u.add(new EmbeddingUnit(config, embed, parallel));
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            String prefix = DecoderLayerUnit.prefix(i);
            Map<String, Tensor> lp = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
                if (e.getKey().startsWith(prefix)) {
                    lp.put(e.getKey(), e.getValue());
                }
            }
            u.add(new DecoderLayerUnit(i, config, lp, attention, projections, parallel));
        }
        Map<String, Tensor> hp = new LinkedHashMap<>();
        hp.put(HeadUnit.NORM, parameters.get(HeadUnit.NORM));
        Tensor out = embed;
        if (!config.tieWordEmbeddings()) {
            out = parameters.get(HeadUnit.LM_HEAD);
            hp.put(HeadUnit.LM_HEAD, out);
        }
        this.head = new HeadUnit(config, hp, out, parallel);
        u.add(head);
        this.units = List.copyOf(u);
    }

    private DecoderModel(ModelConfig config, Map<String, Tensor> parameters) {
        this(config, parameters, new SdpaAttention(), ProjectionFactory.DENSE, ModelParallelism.NONE);
    }

    @Override
    public Device device() {
        return Device.of(Tensors.deviceName(parameters.get(EmbeddingUnit.WEIGHT)), "where the model's parameters are");
    }

    /**
     * This model with every parameter on {@code device}: this model when they are all there already, else a new
     * model of moved float leaves that require grad (same names, shapes, values, layers and parallelism), and this
     * one closed. Each parameter is moved and released before the next, so the host never holds two copies of the
     * model. The one place the trainer puts a model on its device.
     */
    @Override
    public DecoderModel to(Device device) {
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
        return new DecoderModel(config, moved, attention, projections, parallel);
    }

    @Override
    public DecoderModel withParameters(Map<String, Tensor> local, ModelParallelism parallel, String source) {
        // the tensors copied and checked as fromSlices does, the layers built with this model's computation
        DecoderModel m = fromSlices(config, local, parallel, source);
        return new DecoderModel(config, m.parameters, attention, projections, parallel);
    }

    @Override
    public DecoderModel withComputation(AttentionKernel attention, ProjectionFactory projections) {
        return new DecoderModel(config, new LinkedHashMap<>(parameters), attention, projections, parallel);
    }

    @Override
    public AttentionKernel attention() {
        return attention;
    }

    @Override
    public ProjectionFactory projections() {
        return projections;
    }

    @Override
    public ModelParallelism parallelism() {
        return parallel;
    }

    @Override
    public Tensor lossSum(Tensor logits, Tensor labels) {
        return parallel.lossSum(logits, labels);
    }

    /**
     * A freshly initialised model: every parameter filled as declared ({@link ParameterSpec#init}: linear weights
     * and the embedding from normal(0, initializer_range), norms ones or zeros by the family's norm style, biases
     * zeros), in the fixed parameter order from libtorch's generator seeded with {@code seed}.
     */
    public static DecoderModel initialise(ModelConfig config, long seed) {
        synchronized (DecoderModel.class) { // libtorch's default generator is process-wide (ranks as threads)
            return initialiseLocked(config, seed);
        }
    }

    private static DecoderModel initialiseLocked(ModelConfig config, long seed) {
        torch.manual_seed(seed);
        Map<String, Tensor> params = new LinkedHashMap<>();
        for (ParameterSpec spec : config.parameterSpecs()) {
            long[] shape = spec.shape();
            Tensor t = switch (spec.init()) {
                case ONES -> torch.ones(shape, new TensorOptions(ScalarType.Float));
                case ZEROS -> torch.zeros(shape, new TensorOptions(ScalarType.Float));
                case NORMAL -> {
                    Tensor n = torch.empty(shape, new TensorOptions(ScalarType.Float), null);
                    n.normal_(0.0, config.initializerRange(), new GeneratorOptional());
                    yield n;
                }
            };
            t.requires_grad_(true);
            params.put(spec.name(), t);
        }
        return new DecoderModel(config, params);
    }

    /**
     * Builds a model over the given weights (any float type; converted to float32 leaves that require grad).
     * Every expected parameter must be present with the right shape; an extra tensor is an error naming it.
     */
    public static DecoderModel fromWeights(ModelConfig config, Map<String, Tensor> weights, String source) {
        return fromWeights(config, weights, source, ScalarType.Float);
    }

    /** As {@link #fromWeights(ModelConfig, Map, String)}, with parameters of the given element type. */
    public static DecoderModel fromWeights(ModelConfig config, Map<String, Tensor> weights, String source,
                                           ScalarType paramType) {
        Map<String, Tensor> params = new LinkedHashMap<>();
        List<ParameterSpec> specs = config.parameterSpecs();
        Set<String> expected = new HashSet<>();
        for (ParameterSpec spec : specs) {
            String name = spec.name();
            expected.add(name);
            Tensor w = weights.get(name);
            if (w == null) {
                throw new IllegalArgumentException(source + ": missing tensor '" + name + "' (a parameter of "
                        + config.family().architectures().get(0) + " with this config.json)");
            }
            if (!Arrays.equals(spec.shape(), w.shape())) {
                throw new IllegalArgumentException(source + ": tensor '" + name + "' has shape "
                        + Arrays.toString(w.shape()) + ", expected " + Arrays.toString(spec.shape()));
            }
            requireFinite(w, name, source);
            params.put(name, trainableCopy(w, paramType));
        }
        for (String name : weights.keySet()) {
            if (!expected.contains(name) && !name.endsWith("rotary_emb.inv_freq")) {
                params.values().forEach(Tensor::close);
                throw new IllegalArgumentException(source + ": unexpected tensor '" + name + "' (not a parameter of "
                        + config.family().architectures().get(0) + " with this config.json)");
            }
        }
        return new DecoderModel(config, params);
    }

    /**
     * A tensor-parallel rank's model over the slices it holds (any float type; converted to float32 leaves that
     * require grad), read directly from the weights without the whole model: every slice must have the rank's
     * local shape.
     */
    public static DecoderModel fromSlices(ModelConfig config, Map<String, Tensor> slices, ModelParallelism parallel,
                                          String source) {
        int tp = parallel.size();
        config.requireTensorParallel(tp);
        Map<String, Tensor> params = new LinkedHashMap<>();
        for (ParameterSpec spec : config.parameterSpecs()) {
            String name = spec.name();
            Tensor slice = slices.get(name);
            long[] shape = spec.localShape(tp);
            if (slice == null || !Arrays.equals(shape, slice.shape())) {
                throw new IllegalArgumentException(source + ": slice of '" + name + "' is "
                        + (slice == null ? "missing" : Arrays.toString(slice.shape())) + ", expected "
                        + Arrays.toString(shape));
            }
            requireFinite(slice, name, source);
            params.put(name, trainableCopy(slice, ScalarType.Float));
        }
        return new DecoderModel(config, params, new SdpaAttention(), ProjectionFactory.DENSE, parallel);
    }

    /** Refuses weights holding NaN or infinite values, naming the tensor (they would be blamed on training). */
    private static void requireFinite(Tensor w, String name, String source) {
        try (Tensor finite = torch.isfinite(w); Tensor all = finite.all()) {
            if (!all.item_bool()) {
                long bad;
                try (Tensor not = finite.logical_not(); Tensor count = not.sum()) {
                    bad = count.item_long();
                }
                throw new IllegalArgumentException(source + ": tensor '" + name + "' holds " + bad
                        + " NaN or infinite values (of " + w.numel() + "); the weights are damaged");
            }
        }
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
    public static DecoderModel placeholder(ModelConfig config) {
        Map<String, Tensor> params = new LinkedHashMap<>();
        for (String name : config.parameterNames()) {
            Tensor t = torch.empty(new long[] {0}, new TensorOptions(ScalarType.Float), null);
            t.requires_grad_(true);
            params.put(name, t);
        }
        return new DecoderModel(config, params);
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public Map<String, Tensor> parameters() {
        return parameters;
    }

    @Override
    public List<ModelUnit> units() {
        return units;
    }

    @Override
    public HeadUnit head() {
        return head;
    }

    @Override
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
