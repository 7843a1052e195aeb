package ai.axolotl.sharding.partition;

import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.optim.FullMoment;
import ai.axolotl.train.optim.JavaAdamW;
import ai.axolotl.train.optim.LowBitFormat;
import ai.axolotl.train.optim.Moment;
import ai.axolotl.train.optim.QuantizedMoment;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW (or SGD) over partitions, with the state as plain tensors of the same partitioning, so a sharded
 * checkpoint can store it next to the parameters and reshard it to another world size. The update is libtorch's
 * AdamW, operation for operation: decoupled weight decay {@code p *= 1 - lr*wd}, then the moments, the bias
 * corrections and {@code p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)}; SGD is {@code p -= lr * (g + wd*p)}.
 * Weight decay skips 1-D (norm) parameters, as in the single-process optimizer.
 */
public final class ShardedOptimizer implements AutoCloseable {
    private final OptimizerSettings s;
    private final LowBitFormat lowBit;
    private final Map<String, Moment> expAvg = new LinkedHashMap<>();
    private final Map<String, Moment> expAvgSq = new LinkedHashMap<>();
    private final List<ShardedParameter> params;
    private long step;

    /**
     * @param params the partitions this rank updates (with a low-bit optimizer, each quantized parameter's
     *               partitions are multiples of its block: {@link ShardedParameter}'s {@code align})
     */
    public ShardedOptimizer(OptimizerSettings settings, List<ShardedParameter> params) {
        this.s = settings;
        this.lowBit = LowBitFormat.of(settings.optimizer());
        this.params = List.copyOf(params);
        if (isAdamW()) {
            for (ShardedParameter p : params) {
                // the rule on the whole parameter, never on the partition
                boolean q = lowBit != null && lowBit.quantizes(p.numel());
                expAvg.put(p.name(), q ? new QuantizedMoment(lowBit, true, p.chunk(), p.shard())
                        : new FullMoment(p.chunk(), p.shard()));
                expAvgSq.put(p.name(), q ? new QuantizedMoment(lowBit, false, p.chunk(), p.shard())
                        : new FullMoment(p.chunk(), p.shard()));
            }
        }
    }

    private boolean isAdamW() {
        return s.optimizer().equals("adamw") || lowBit != null;
    }

    /** The optimizer's canonical name ({@code adamw}, {@code sgd}, {@code adamw_8bit}, ...). */
    public String name() {
        return s.optimizer();
    }

    /** The low-bit format of the moments, or null for fp32 AdamW / SGD. */
    public LowBitFormat lowBit() {
        return lowBit;
    }

    /** AdamW's first moment of a partition, as stored (null for SGD). */
    public Moment firstMoment(String name) {
        return expAvg.get(name);
    }

    /** AdamW's second moment of a partition, as stored (null for SGD). */
    public Moment secondMoment(String name) {
        return expAvgSq.get(name);
    }

    /** Optimizer steps taken. */
    public long steps() {
        return step;
    }

    /** AdamW's fp32 first moment of a partition (null for SGD and for a quantized moment). */
    public Tensor expAvg(String name) {
        return full(expAvg.get(name));
    }

    /** AdamW's fp32 second moment of a partition (null for SGD and for a quantized moment). */
    public Tensor expAvgSq(String name) {
        return full(expAvgSq.get(name));
    }

    private static Tensor full(Moment m) {
        return m instanceof FullMoment f ? f.state().get("") : null;
    }

    /** Restores the step count (from a checkpoint). */
    public void setSteps(long steps) {
        this.step = steps;
    }

    /** The optimizer's state tensors (AdamW's moments; none for SGD). */
    public List<Tensor> stateTensors() {
        List<Tensor> all = new ArrayList<>();
        for (Moment m : expAvg.values()) {
            all.addAll(m.state().values());
        }
        for (Moment m : expAvgSq.values()) {
            all.addAll(m.state().values());
        }
        return all;
    }

    /** One update of every partition with learning rate {@code lr}. */
    public void step(double lr) {
        step++;
        try (NoGradGuard g = new NoGradGuard()) {
            for (ShardedParameter p : params) {
                // the single-process rule (OptimizerFactory.decays) on the full parameter's shape
                OptimizerSettings.Group group = s.group(p.name(), p.shape().length);
                double wd = group.weightDecay();
                double plr = lr * group.lrScale();
                Tensor w = p.shard().detach();
                Tensor grad = p.shardGrad();
                if (isAdamW()) {
                    JavaAdamW.update(w, grad, expAvg.get(p.name()), expAvgSq.get(p.name()), s, plr, wd, step,
                            lowBit != null ? p.padding() : 0);
                } else {
                    try (Tensor d = wd != 0 ? grad.add(w, new Scalar(wd)) : grad.clone()) {
                        w.add_(d, new Scalar(-plr));
                    }
                }
                w.close();
            }
        }
    }

    @Override
    public void close() {
        expAvg.values().forEach(Moment::close);
        expAvgSq.values().forEach(Moment::close);
    }
}
