package ai.axolotl.train;

import ai.axolotl.config.OptimizerSettings;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OptimizerParamGroup;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Builds libtorch's AdamW or SGD over named parameters in two groups, as Hugging Face's Trainer does: weight
 * decay on matrices, none on norm weights (1-D tensors).
 */
public final class OptimizerFactory {
    private OptimizerFactory() {}

    /** True when weight decay applies to the named parameter. */
    public static boolean decays(String name, Tensor t) {
        return t.dim() > 1 && !name.contains("norm");
    }

    /** Builds the optimizer; {@code params} are the tensors this rank updates, by name. */
    public static Optimizer create(OptimizerSettings s, Map<String, Tensor> params) {
        Map<String, Tensor> decay = new LinkedHashMap<>();
        Map<String, Tensor> noDecay = new LinkedHashMap<>();
        params.forEach((name, t) -> (decays(name, t) ? decay : noDecay).put(name, t));
        return create(s, decay, noDecay);
    }

    /** Builds the optimizer over tensors already split into the weight-decay and no-decay groups. */
    public static Optimizer create(OptimizerSettings s, Map<String, Tensor> decayGroup,
                                   Map<String, Tensor> noDecayGroup) {
        TensorVector dv = new TensorVector(decayGroup.values().toArray(new Tensor[0]));
        TensorVector nv = new TensorVector(noDecayGroup.values().toArray(new Tensor[0]));
        Optimizer opt;
        if (s.optimizer().equals("sgd")) {
            SGDOptions d = new SGDOptions(s.learningRate());
            d.weight_decay().put(s.weightDecay());
            SGDOptions n = new SGDOptions(s.learningRate());
            n.weight_decay().put(0.0);
            opt = new SGD(dv, d);
            if (nv.size() > 0) {
                opt.add_param_group(new OptimizerParamGroup(nv, n));
            }
        } else {
            AdamWOptions d = adamw(s, s.weightDecay());
            AdamWOptions n = adamw(s, 0.0);
            opt = new AdamW(dv, d);
            if (nv.size() > 0) {
                opt.add_param_group(new OptimizerParamGroup(nv, n));
            }
        }
        return opt;
    }

    private static AdamWOptions adamw(OptimizerSettings s, double weightDecay) {
        AdamWOptions o = new AdamWOptions(s.learningRate());
        // betas() points at a std::tuple<double, double>, which libstdc++ lays out last element first
        o.betas().put(0, s.adamBeta2()).put(1, s.adamBeta1());
        o.eps().put(s.adamEpsilon());
        o.weight_decay().put(weightDecay);
        return o;
    }

    /** One optimizer step at learning rate {@code lr}, then the gradients are released. */
    public static void stepAndClear(Optimizer opt, double lr) {
        setLearningRate(opt, lr);
        opt.step();
        opt.zero_grad(true);
    }

    /** Sets the learning rate of every parameter group. */
    public static void setLearningRate(Optimizer opt, double lr) {
        var groups = opt.param_groups();
        for (long i = 0; i < groups.size(); i++) {
            groups.get(i).options().set_lr(lr);
        }
    }

    /** Saves optimizer state with libtorch's serializer. */
    public static void save(Optimizer opt, Path file) {
        OutputArchive a = new OutputArchive();
        opt.save(a);
        a.save_to(file.toString());
    }

    /** Loads optimizer state saved by {@link #save}. */
    public static void load(Optimizer opt, Path file) {
        InputArchive a = new InputArchive();
        a.load_from(file.toString());
        opt.load(a);
    }
}
