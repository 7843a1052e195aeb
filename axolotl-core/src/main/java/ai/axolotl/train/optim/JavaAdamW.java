package ai.axolotl.train.optim;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.runtime.Device;
import ai.axolotl.model.Safetensors;
import ai.axolotl.train.TrainOptimizer;
import ai.axolotl.train.TrainingException;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW written here over libtorch tensors, for what libtorch's AdamW cannot hold: moments in a
 * {@link LowBitFormat} (bitsandbytes' or torchao's 8-bit, torchao's 4-bit; fp32 without one) and a learning-rate
 * scale and weight decay per parameter ({@link OptimizerSettings#group}: LoRA+'s groups), over whole parameters
 * (one process, DDP). Each step, per parameter: decoupled weight decay {@code p *= 1 - lr*wd}
 * (before the update, as the reference CPU ops and torchao do), the moments dequantized to fp32 and updated, the
 * parameter updated from the fp32 moments ({@code p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)}), then the moments
 * requantized. The state is saved as safetensors: per parameter its codes and absmax (or fp32 moments), and the step.
 */
public final class JavaAdamW implements TrainOptimizer {
    private final OptimizerSettings s;
    private final LowBitFormat format;
    private final Map<String, Tensor> params;
    private final Map<String, Moment> first = new LinkedHashMap<>();
    private final Map<String, Moment> second = new LinkedHashMap<>();
    private long step;

    /**
     * @param params the parameters this rank updates, by name (whole tensors: the threshold and the blocks are
     *               the whole tensor's)
     */
    public JavaAdamW(OptimizerSettings settings, LowBitFormat format, Map<String, Tensor> params) {
        this.s = settings;
        this.format = format;
        this.params = new LinkedHashMap<>(params);
        for (Map.Entry<String, Tensor> e : params.entrySet()) {
            long n = e.getValue().numel();
            boolean q = format != null && format.quantizes(n);
            first.put(e.getKey(), q ? new QuantizedMoment(format, true, n, e.getValue())
                    : new FullMoment(n, e.getValue()));
            second.put(e.getKey(), q ? new QuantizedMoment(format, false, n, e.getValue())
                    : new FullMoment(n, e.getValue()));
        }
    }

    /**
     * One AdamW update of {@code w} (flat, updated in place) from {@code grad} (flat), the moments read, updated
     * and stored back: the one update rule of every low-bit optimizer here (whole tensors and partitions).
     *
     * @param padding trailing elements of the flat tensors that are padding (their moments are kept at zero)
     */
    public static void update(Tensor w, Tensor grad, Moment m, Moment v, OptimizerSettings s, double lr, double wd,
                              long step, long padding) {
        if (wd != 0) {
            w.mul_(new Scalar(1 - lr * wd));
        }
        double b1 = s.adamBeta1();
        double b2 = s.adamBeta2();
        try (Tensor mf = m.read(); Tensor vf = v.read()) {
            mf.mul_(new Scalar(b1)).add_(grad, new Scalar(1 - b1));
            vf.mul_(new Scalar(b2)).addcmul_(grad, grad, new Scalar(1 - b2));
            if (padding > 0) {
                try (Tensor mt = mf.narrow(0, mf.numel() - padding, padding);
                     Tensor vt = vf.narrow(0, vf.numel() - padding, padding)) {
                    mt.zero_();
                    vt.zero_();
                }
            }
            double bc1 = 1 - Math.pow(b1, step);
            double bc2 = 1 - Math.pow(b2, step);
            try (Tensor sq = vf.sqrt(); Tensor denom = sq.div(new Scalar(Math.sqrt(bc2)))) {
                denom.add_(new Scalar(s.adamEpsilon()));
                w.addcdiv_(mf, denom, new Scalar(-lr / bc1));
            }
            m.write(mf);
            v.write(vf);
        }
    }

    @Override
    public void step(double lr) {
        step++;
        try (NoGradGuard g = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                Tensor p = e.getValue();
                try (Tensor gradRef = new Tensor(p.grad())) {
                    if (!gradRef.defined()) {
                        continue;
                    }
                    OptimizerSettings.Group group = s.group(e.getKey(), (int) p.dim());
                    try (Tensor d = p.detach(); Tensor w = d.view(-1); Tensor gflat = gradRef.reshape(-1)) {
                        update(w, gflat, first.get(e.getKey()), second.get(e.getKey()), s, lr * group.lrScale(),
                                group.weightDecay(), step, 0);
                    }
                }
            }
        }
    }

    @Override
    public void zeroGrad() {
        for (Tensor p : params.values()) {
            p.mutable_grad().reset();
        }
    }

    /** {@code optimizer.safetensors}: codes, absmax and fp32 states by name, the step in the metadata. */
    @Override
    public String fileName() {
        return "optimizer.safetensors";
    }

    /** Bytes of the moments held (codes, absmax, fp32 states of small tensors). */
    @Override
    public long stateBytes() {
        long b = 0;
        for (Moment m : first.values()) {
            b += m.bytes();
        }
        for (Moment m : second.values()) {
            b += m.bytes();
        }
        return b;
    }

    /** The first moment of a parameter. */
    public Moment first(String name) {
        return first.get(name);
    }

    /** The second moment of a parameter. */
    public Moment second(String name) {
        return second.get(name);
    }

    @Override
    public void save(Path file) throws IOException {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : params.keySet()) {
            first.get(name).state().forEach((k, t) -> out.put("exp_avg" + (k.isEmpty() ? "" : "." + k) + "/" + name, t));
            second.get(name).state().forEach((k, t) -> out.put("exp_avg_sq" + (k.isEmpty() ? "" : "." + k) + "/"
                    + name, t));
        }
        Safetensors.write(file, out, Map.of("format", "pt", "optimizer", formatName(),
                "step", Long.toString(step)));
    }

    @Override
    public void load(Path file, Device device) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new TrainingException(file + " not found (saved with save_only_model?); this checkpoint cannot "
                    + "be resumed");
        }
        Map<String, String> meta = Safetensors.metadata(file);
        if (!formatName().equals(meta.get("optimizer"))) {
            throw new TrainingException(file + ": optimizer state of " + meta.getOrDefault("optimizer",
                    "another optimizer") + ", this run's optimizer is " + formatName() + " (" + s.optimizer() + ")");
        }
        Map<String, Tensor> saved = Safetensors.read(file);
        try (NoGradGuard g = new NoGradGuard()) {
            for (String name : params.keySet()) {
                copy(saved, "exp_avg", name, first.get(name), file);
                copy(saved, "exp_avg_sq", name, second.get(name), file);
            }
        } finally {
            saved.values().forEach(Tensor::close);
        }
        step = Long.parseLong(meta.getOrDefault("step", "0"));
    }

    private static void copy(Map<String, Tensor> saved, String kind, String name, Moment m, Path file) {
        for (Map.Entry<String, Tensor> e : m.state().entrySet()) {
            String key = kind + (e.getKey().isEmpty() ? "" : "." + e.getKey()) + "/" + name;
            Tensor t = saved.get(key);
            if (t == null || t.numel() != e.getValue().numel()) {
                throw new TrainingException(file + ": '" + key + "' is " + (t == null ? "missing" : t.numel()
                        + " elements, expected " + e.getValue().numel()) + " (another model or optimizer)");
            }
            try (Tensor r = t.view(e.getValue().shape())) {
                e.getValue().copy_(r);
            }
        }
    }

    private String formatName() {
        return format == null ? "FP32" : format.name();
    }

    @Override
    public void close() {
        first.values().forEach(Moment::close);
        second.values().forEach(Moment::close);
    }
}
