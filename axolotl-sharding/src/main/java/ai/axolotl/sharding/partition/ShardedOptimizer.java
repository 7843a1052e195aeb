package ai.axolotl.sharding.partition;

import ai.axolotl.train.OptimizerFactory;
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
    private final Map<String, Tensor> expAvg = new LinkedHashMap<>();
    private final Map<String, Tensor> expAvgSq = new LinkedHashMap<>();
    private final List<ShardedParameter> params;
    private long step;

    /** @param params the partitions this rank updates */
    public ShardedOptimizer(OptimizerSettings settings, List<ShardedParameter> params) {
        this.s = settings;
        this.params = List.copyOf(params);
        if (isAdamW()) {
            for (ShardedParameter p : params) {
                expAvg.put(p.name(), Tensors.zerosOn(p.shard(), p.chunk()));
                expAvgSq.put(p.name(), Tensors.zerosOn(p.shard(), p.chunk()));
            }
        }
    }

    private boolean isAdamW() {
        return s.optimizer().equals("adamw");
    }

    /** Optimizer steps taken. */
    public long steps() {
        return step;
    }

    /** AdamW's first moment of a partition (null for SGD). */
    public Tensor expAvg(String name) {
        return expAvg.get(name);
    }

    /** AdamW's second moment of a partition (null for SGD). */
    public Tensor expAvgSq(String name) {
        return expAvgSq.get(name);
    }

    /** Restores the step count (from a checkpoint). */
    public void setSteps(long steps) {
        this.step = steps;
    }

    /** The optimizer's state tensors (AdamW's moments; none for SGD). */
    public List<Tensor> stateTensors() {
        List<Tensor> all = new ArrayList<>(expAvg.values());
        all.addAll(expAvgSq.values());
        return all;
    }

    /** One update of every partition with learning rate {@code lr}. */
    public void step(double lr) {
        step++;
        try (NoGradGuard g = new NoGradGuard()) {
            for (ShardedParameter p : params) {
                // the single-process rule (OptimizerFactory.decays) on the full parameter's shape
                boolean decay = OptimizerFactory.decays(p.name(), p.shape().length);
                double wd = decay ? s.weightDecay() : 0.0;
                Tensor w = p.shard().detach();
                Tensor grad = p.shardGrad();
                if (isAdamW()) {
                    if (wd != 0) {
                        w.mul_(new Scalar(1 - lr * wd));
                    }
                    double b1 = s.adamBeta1();
                    double b2 = s.adamBeta2();
                    Tensor m = expAvg.get(p.name());
                    Tensor v = expAvgSq.get(p.name());
                    m.mul_(new Scalar(b1)).add_(grad, new Scalar(1 - b1));
                    v.mul_(new Scalar(b2)).addcmul_(grad, grad, new Scalar(1 - b2));
                    double bc1 = 1 - Math.pow(b1, step);
                    double bc2 = 1 - Math.pow(b2, step);
                    try (Tensor sq = v.sqrt(); Tensor denom = sq.div(new Scalar(Math.sqrt(bc2)))) {
                        denom.add_(new Scalar(s.adamEpsilon()));
                        w.addcdiv_(m, denom, new Scalar(-lr / bc1));
                    }
                } else {
                    try (Tensor d = wd != 0 ? grad.add(w, new Scalar(wd)) : grad.clone()) {
                        w.add_(d, new Scalar(-lr));
                    }
                }
                w.close();
            }
        }
    }

    @Override
    public void close() {
        expAvg.values().forEach(Tensor::close);
        expAvgSq.values().forEach(Tensor::close);
    }
}
