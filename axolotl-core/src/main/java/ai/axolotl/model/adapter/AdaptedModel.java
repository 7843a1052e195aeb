package ai.axolotl.model.adapter;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.model.AttentionKernel;
import ai.axolotl.model.CausalLm;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.GradientPlacement;
import ai.axolotl.model.HeadUnit;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.ModelParallelism;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.model.ParameterSpec;
import ai.axolotl.model.Projection;
import ai.axolotl.model.ProjectionFactory;
import ai.axolotl.model.TensorParallelStyle;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.quant.Nf4Projection;
import ai.axolotl.model.quant.Nf4Tensor;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model whose base is frozen and whose trainable part is a LoRA adapter (PEFT's forward, init and names) plus
 * the base parameters left trainable ({@code lora_modules_to_save}, {@code unfrozen_parameters}).
 *
 * <p>What every strategy sees is only the trainable part: {@link #parameters()} and each unit's parameters are the
 * adapter's A and B ({@code <module>.lora_A.weight} {@code [r, in]}, {@code <module>.lora_B.weight}
 * {@code [out, r]}) and the trainable base parameters, so gradient synchronisation, clipping, partitioning, the
 * optimizer and checkpoints cover exactly those; the frozen base ({@link #frozenParameters()}, and the NF4
 * storage of quantized weights) takes no gradient, and each unit names the frozen tensors it reads
 * ({@link ModelUnit#frozenTensors()}) so that ZeRO-3 and FSDP2 can shard them and gather them around the unit.
 * Under tensor parallelism the adapter is split to match its base projection
 * (column-parallel base: B by output rows, A replicated with a gradient summed over tp; row-parallel base: A by
 * input columns, B replicated and summed), declared through {@link #spec} like any parameter.
 */
public final class AdaptedModel implements CausalLm {
    /** The prefix PEFT's files put before a module path ({@code PeftModel -> LoraModel -> the HF model}). */
    public static final String PEFT_PREFIX = "base_model.model.";

    private final CausalLm inner;
    private final ProjectionFactory baseProjections;
    private final AdapterSettings settings;
    private final List<String> targets;
    private final Set<String> trainableBase;
    private final Map<String, Tensor> adapters;
    private final Map<String, Nf4Tensor> quantized;
    private final Map<String, ParameterSpec> adapterSpecs;
    private final Map<String, Tensor> trainable;
    private final Map<String, Tensor> frozen;
    private final List<ModelUnit> units;

    private AdaptedModel(CausalLm base, AdapterSettings settings, List<String> targets, Set<String> trainableBase,
                         Map<String, Tensor> adapters, Map<String, Nf4Tensor> quantized) {
        this.quantized = Collections.unmodifiableMap(quantized);
        this.baseProjections = base.projections();
        this.settings = settings;
        this.targets = List.copyOf(targets);
        this.trainableBase = Set.copyOf(trainableBase);
        this.adapters = Collections.unmodifiableMap(adapters);
        this.adapterSpecs = specs(base.config(), targets, settings.r());
        Map<String, Integer> site = new LinkedHashMap<>();
        for (int i = 0; i < targets.size(); i++) {
            site.put(targets.get(i), i);
        }
        ProjectionFactory lora = (spec, weight, bias, biasScale) -> {
            Nf4Tensor q = quantized.get(spec.name());
            Projection p = q != null ? new Nf4Projection(q, bias, biasScale)
                    : baseProjections.create(spec, weight, bias, biasScale);
            Integer i = site.get(spec.name());
            if (i == null) {
                return p;
            }
            String module = module(spec.name());
            return new LoraProjection(p, adapters.get(loraA(module)), adapters.get(loraB(module)),
                    settings.scaling(), settings.dropout(), i);
        };
        this.inner = base.withComputation(base.attention(), lora);
        Map<String, Tensor> frozenMap = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : inner.parameters().entrySet()) {
            boolean train = trainableBase.contains(e.getKey());
            e.getValue().requires_grad_(train);
            if (!train && !quantized.containsKey(e.getKey())) {
                frozenMap.put(e.getKey(), e.getValue());
            }
        }
        this.frozen = Collections.unmodifiableMap(frozenMap);
        List<ModelUnit> u = new ArrayList<>();
        Map<String, Tensor> all = new LinkedHashMap<>();
        for (ModelUnit unit : inner.units()) {
            Map<String, Tensor> own = trainableOf(unit.parameters());
            Map<String, Tensor> used = trainableOf(unit.usedParameters());
            all.putAll(own);
            u.add(new AdapterUnit(unit, own, used, frozenOf(unit.usedParameters())));
        }
        this.trainable = Collections.unmodifiableMap(all);
        this.units = List.copyOf(u);
    }

    /**
     * Freezes {@code base} and adds the adapter {@code settings} declare, initialised as PEFT does from
     * {@code seed} (the same values on every rank; a tensor-parallel rank keeps its slice of them).
     *
     * @param base a model on its device, already cut for tensor parallelism if the run has it; its parameter
     *             tensors are taken over (close the returned model, not {@code base})
     * @throws IllegalArgumentException naming the key when the targets match nothing or cannot be adapted
     */
    public static AdaptedModel apply(CausalLm base, AdapterSettings settings, long seed) {
        ModelConfig config = base.config();
        List<String> targets = settings.lora() ? LoraTargets.weights(config, settings) : List.of();
        Set<String> trainableBase = new LinkedHashSet<>(LoraTargets.trainableBase(config, settings));
        Map<String, ParameterSpec> specs = specs(config, targets, settings.r());
        ModelParallelism parallel = base.parallelism();
        Device device = base.device();
        Map<String, Tensor> adapters = new LinkedHashMap<>();
        long site = 0;
        for (String target : targets) {
            String module = module(target);
            long[] shape = config.spec(target).shape();
            try (Tensor a = init(new long[] {settings.r(), shape[1]}, settings.init().equals("gaussian")
                    ? -1.0 / settings.r() : 1.0 / Math.sqrt(shape[1]), seed, 2 * site);
                 Tensor b = settings.init().equals("false")
                         ? init(new long[] {shape[0], settings.r()}, 1.0 / Math.sqrt(settings.r()), seed, 2 * site + 1)
                         : torch.zeros(new long[] {shape[0], settings.r()}, new TensorOptions(ScalarType.Float))) {
                adapters.put(loraA(module), local(a, specs.get(loraA(module)), parallel, device));
                adapters.put(loraB(module), local(b, specs.get(loraB(module)), parallel, device));
            }
            site++;
        }
        Map<String, Nf4Tensor> quantized = new LinkedHashMap<>();
        if (settings.quantizedBase()) {
            // bitsandbytes quantizes every frozen linear projection (not lm_head, not the embedding), double
            // quantization on, as Axolotl configures it; the full-precision storage is released at once
            try (NoGradGuard g = new NoGradGuard()) {
                for (Map.Entry<String, Tensor> e : base.parameters().entrySet()) {
                    String name = e.getKey();
                    if (name.endsWith("_proj.weight") && !trainableBase.contains(name)) {
                        quantized.put(name, quantize(e.getValue(), config.spec(name), parallel));
                        e.getValue().requires_grad_(false);
                        try (Tensor empty = torch.empty(new long[] {0}, Tensors.optionsOn(
                                e.getValue().scalar_type(), e.getValue()), null)) {
                            e.getValue().set_data(empty);
                        }
                    }
                }
            }
        }
        return new AdaptedModel(base, settings, targets, trainableBase, adapters, quantized);
    }

    /**
     * The NF4 form of a frozen projection weight as one process quantizes it: under tensor parallelism the whole
     * weight is gathered over the group (one projection at a time), quantized, and cut to this rank's slice
     * ({@link Nf4Tensor#slice}), so every rank's dequantized slice is exactly the slice of the one-process one.
     */
    private static Nf4Tensor quantize(Tensor local, ParameterSpec spec, ModelParallelism parallel) {
        int dim = spec.tensorParallel().shardDim();
        if (parallel.size() == 1 || dim < 0) {
            return Nf4Tensor.quantize(local, true);
        }
        try (Tensor whole = parallel.gatherWhole(local, dim); Nf4Tensor q = Nf4Tensor.quantize(whole, true)) {
            return q.slice(dim, parallel.rank(), parallel.size());
        }
    }

    /**
     * A fresh float tensor: uniform in [-bound, bound] (kaiming-uniform with a = sqrt(5), nn.Linear's default, when
     * bound = 1/sqrt(fan_in)), or normal with std -bound when bound is negative; drawn from a generator of its own.
     */
    private static Tensor init(long[] shape, double bound, long seed, long index) {
        Tensor t = torch.empty(shape, new TensorOptions(ScalarType.Float), null);
        Generator g = torch.createCPUGenerator(seed * 1_000_033L + index + 1);
        try (g; GeneratorOptional go = new GeneratorOptional(g)) {
            if (bound < 0) {
                t.normal_(0.0, -bound, go);
            } else {
                t.uniform_(-bound, bound, go);
            }
        }
        return t;
    }

    /** This rank's slice of a whole adapter tensor, on {@code device}, as a float leaf that requires grad. */
    private static Tensor local(Tensor whole, ParameterSpec spec, ModelParallelism parallel, Device device) {
        int dim = spec.tensorParallel().shardDim();
        Tensor p;
        if (dim >= 0 && parallel.size() > 1) {
            long n = whole.size(dim) / parallel.size();
            try (Tensor s = whole.narrow(dim, n * parallel.rank(), n); Tensor c = s.contiguous()) {
                p = Tensors.to(c, device);
            }
        } else {
            p = Tensors.to(whole, device);
        }
        Tensor leaf = p.detach().clone();
        p.close();
        leaf.requires_grad_(true);
        return leaf;
    }

    /** The declarations of the adapter tensors: global shapes, and the split that matches each base projection. */
    private static Map<String, ParameterSpec> specs(ModelConfig config, List<String> targets, int r) {
        Map<String, ParameterSpec> out = new LinkedHashMap<>();
        for (String target : targets) {
            ParameterSpec base = config.spec(target);
            long[] shape = base.shape();
            String module = module(target);
            TensorParallelStyle aStyle;
            TensorParallelStyle bStyle;
            GradientPlacement aGrad;
            GradientPlacement bGrad;
            switch (base.tensorParallel()) {
                case COLUMN -> { // y = B (A x): every rank has the whole x and its rows of y
                    aStyle = TensorParallelStyle.REPLICATED;
                    aGrad = GradientPlacement.PARTIAL;
                    bStyle = TensorParallelStyle.COLUMN;
                    bGrad = GradientPlacement.SHARD;
                }
                case ROW -> { // each rank adds B (A_i x_i), summed over tp with the base's partial outputs
                    aStyle = TensorParallelStyle.ROW;
                    aGrad = GradientPlacement.SHARD;
                    bStyle = TensorParallelStyle.REPLICATED;
                    bGrad = GradientPlacement.PARTIAL;
                }
                default -> throw new IllegalStateException(target + " is not a column- or row-parallel projection");
            }
            out.put(loraA(module), new ParameterSpec(loraA(module), new long[] {r, shape[1]}, aStyle, aGrad, true,
                    true, ParameterSpec.Init.NORMAL));
            out.put(loraB(module), new ParameterSpec(loraB(module), new long[] {shape[0], r}, bStyle, bGrad, true,
                    true, ParameterSpec.Init.ZEROS));
        }
        return out;
    }

    private Map<String, Tensor> trainableOf(Map<String, Tensor> unitParameters) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : unitParameters.entrySet()) {
            if (trainableBase.contains(e.getKey())) {
                out.put(e.getKey(), e.getValue());
            }
            if (targets.contains(e.getKey())) {
                String module = module(e.getKey());
                out.put(loraA(module), adapters.get(loraA(module)));
                out.put(loraB(module), adapters.get(loraB(module)));
            }
        }
        return out;
    }

    /** The frozen tensors behind a unit's parameters: full-precision ones, and each NF4 weight's storage. */
    private Map<String, Tensor> frozenOf(Map<String, Tensor> unitParameters) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : unitParameters.keySet()) {
            Tensor t = frozen.get(name);
            if (t != null) {
                out.put(name, t);
            }
            Nf4Tensor q = quantized.get(name);
            if (q != null) {
                q.storage().forEach((suffix, s) -> out.put(name + suffix, s));
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /** {@code model.layers.0.self_attn.q_proj.weight} -> {@code model.layers.0.self_attn.q_proj}. */
    static String module(String weight) {
        return weight.substring(0, weight.lastIndexOf('.'));
    }

    /** The name of a module's A. */
    public static String loraA(String module) {
        return module + ".lora_A.weight";
    }

    /** The name of a module's B. */
    public static String loraB(String module) {
        return module + ".lora_B.weight";
    }

    /** The adapter settings this model was built with. */
    public AdapterSettings settings() {
        return settings;
    }

    /** The adapted base weights ({@code model.layers.0.self_attn.q_proj.weight}), in parameter order. */
    public List<String> targets() {
        return targets;
    }

    /** The adapter's tensors (A and B of every target) by name, as this rank holds them. */
    public Map<String, Tensor> adapters() {
        return adapters;
    }

    /** The names of the base parameters that train in full beside the adapter. */
    public Set<String> trainableBase() {
        return trainableBase;
    }

    @Override
    public ModelConfig config() {
        return inner.config();
    }

    /** The trainable parameters only: the adapter's tensors and the base parameters left trainable. */
    @Override
    public Map<String, Tensor> parameters() {
        return trainable;
    }

    @Override
    public Map<String, Tensor> frozenParameters() {
        return frozen;
    }

    @Override
    public List<ModelUnit> units() {
        return units;
    }

    @Override
    public ParameterSpec spec(String name) {
        ParameterSpec a = adapterSpecs.get(name);
        if (a != null) {
            return a;
        }
        ParameterSpec s = inner.spec(name);
        boolean train = trainableBase.contains(name);
        return new ParameterSpec(s.name(), s.shape(), s.tensorParallel(), s.gradient(), train, s.decays(), s.init());
    }

    @Override
    public ModelParallelism parallelism() {
        return inner.parallelism();
    }

    @Override
    public Tensor lossSum(Tensor logits, Tensor labels) {
        return inner.lossSum(logits, labels);
    }

    @Override
    public Device device() {
        return inner.device();
    }

    @Override
    public AdaptedModel to(Device device) {
        boolean there = inner.device().name().equals(device.name());
        for (Tensor t : adapters.values()) {
            there &= Tensors.deviceName(t).equals(device.name());
        }
        if (there) {
            return this;
        }
        if (!quantized.isEmpty()) {
            throw new UnsupportedOperationException("a 4-bit base is quantized on its device; it does not move");
        }
        CausalLm moved = inner.to(device);
        Map<String, Tensor> movedAdapters = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : adapters.entrySet()) {
            Tensor p;
            try (Tensor d = e.getValue().detach()) {
                p = Tensors.to(d, device);
            }
            p.requires_grad_(true);
            movedAdapters.put(e.getKey(), p);
            e.getValue().close();
        }
        return new AdaptedModel(moved.withComputation(moved.attention(), baseProjections), settings, targets,
                trainableBase, movedAdapters, quantized);
    }

    /** Not available: tensor parallelism cuts the base before the adapter is applied. */
    @Override
    public CausalLm withParameters(Map<String, Tensor> parameters, ModelParallelism parallel, String source) {
        throw new UnsupportedOperationException("an adapted model is cut for tensor parallelism before its adapter "
                + "is applied");
    }

    @Override
    public AdaptedModel withComputation(AttentionKernel attention, ProjectionFactory projections) {
        return new AdaptedModel(inner.withComputation(attention, projections), settings, targets, trainableBase,
                adapters, quantized);
    }

    @Override
    public AttentionKernel attention() {
        return inner.attention();
    }

    @Override
    public ProjectionFactory projections() {
        return inner.projections();
    }

    @Override
    public HeadUnit head() {
        return inner.head();
    }

    @Override
    public Tensor logits(Tensor inputIds, ForwardContext ctx) {
        return DecoderModel.forwardUnits(units, inputIds, ctx);
    }

    /** The frozen projections stored as NF4, by HF name (empty unless QLoRA). */
    public Map<String, Nf4Tensor> quantized() {
        return quantized;
    }

    @Override
    public void close() {
        for (Tensor t : adapters.values()) {
            t.close();
        }
        for (Nf4Tensor q : quantized.values()) {
            q.close();
        }
        inner.close();
    }

    /** A unit of the inner model whose parameters, to a strategy, are only its trainable ones. */
    private record AdapterUnit(ModelUnit unit, Map<String, Tensor> own, Map<String, Tensor> used,
                               Map<String, Tensor> frozen) implements ModelUnit {
        @Override
        public Map<String, Tensor> frozenTensors() {
            return frozen;
        }

        @Override
        public String name() {
            return unit.name();
        }

        @Override
        public String moduleClass() {
            return unit.moduleClass();
        }

        @Override
        public Map<String, Tensor> parameters() {
            return own;
        }

        @Override
        public Map<String, Tensor> usedParameters() {
            return used;
        }

        @Override
        public Tensor forward(Tensor input, ForwardContext ctx) {
            return unit.forward(input, ctx);
        }
    }
}
