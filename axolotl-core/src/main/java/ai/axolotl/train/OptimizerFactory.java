package ai.axolotl.train;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.train.optim.JavaAdamW;
import ai.axolotl.train.optim.LowBitFormat;
import ai.axolotl.runtime.Device;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OptimizerParamGroup;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds libtorch's AdamW or SGD over named parameters in two groups, as Hugging Face's Trainer does: weight
 * decay on matrices, none on norm weights (1-D tensors).
 */
public final class OptimizerFactory {
    private OptimizerFactory() {}

    /** True when weight decay applies to the named parameter. */
    public static boolean decays(String name, Tensor t) {
        return decays(name, t.dim());
    }

    /** True when weight decay applies to a parameter of that name with that many dimensions. */
    public static boolean decays(String name, long dimensions) {
        return OptimizerSettings.decays(name, dimensions);
    }

    /** Builds the optimizer; {@code params} are the tensors this rank updates, by name. */
    public static Optimizer create(OptimizerSettings s, Map<String, Tensor> params) {
        Map<String, Tensor> decay = new LinkedHashMap<>();
        Map<String, Tensor> noDecay = new LinkedHashMap<>();
        params.forEach((name, t) -> (decays(name, t) ? decay : noDecay).put(name, t));
        return create(s, decay, noDecay);
    }

    /**
     * The optimizer a strategy that holds whole parameters trains with: a low-bit AdamW for the 8-bit and 4-bit
     * optimizer names, else libtorch's AdamW or SGD ({@link #create(OptimizerSettings, Map)}).
     */
    public static TrainOptimizer forTraining(OptimizerSettings s, Map<String, Tensor> params) {
        LowBitFormat lowBit = LowBitFormat.of(s.optimizer());
        if (lowBit != null || s.loraplusLrRatio() != null) {
            return new JavaAdamW(s, lowBit, params);
        }
        return new LibtorchOptimizer(create(s, params), params, s.optimizer().equals("adamw"));
    }

    /**
     * The parameters' names in the order the optimizer {@link #create(OptimizerSettings, Map)} builds holds them:
     * the weight-decay group, then the no-decay group, each in the order given.
     */
    public static List<String> groupOrder(Map<String, Tensor> params) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        params.forEach((name, t) -> shapes.put(name, t.shape()));
        return groupOrderOfShapes(shapes);
    }

    /** {@link #groupOrder} from the parameters' shapes (a saved model's, without its tensors). */
    public static List<String> groupOrderOfShapes(Map<String, long[]> shapes) {
        List<String> decay = new ArrayList<>();
        List<String> noDecay = new ArrayList<>();
        shapes.forEach((name, shape) -> (decays(name, shape.length) ? decay : noDecay).add(name));
        decay.addAll(noDecay);
        return decay;
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

    /**
     * Loads optimizer state saved by {@link #save}, its tensors placed on {@code device} (where the optimizer's
     * parameters are; libtorch's map location).
     */
    public static void load(Optimizer opt, Path file, Device device) {
        InputArchive a = new InputArchive();
        try (org.bytedeco.pytorch.Device d = device.toTorch()) {
            a.load_from(file.toString(), new DeviceOptional(d));
        } catch (RuntimeException e) { // libtorch's c10::Error, with its C++ frames in the message
            throw unreadable(file, e);
        }
        try {
            opt.load(a);
        } catch (RuntimeException e) {
            throw new TrainingException(file + ": the optimizer state does not fit this run's optimizer (another "
                    + "model, optimizer or parameter grouping): " + firstLine(e), e);
        }
    }

    /** One line naming {@code file} for a libtorch archive that cannot be read. */
    static TrainingException unreadable(Path file, RuntimeException e) {
        return new TrainingException(file + ": not a readable libtorch archive (damaged, truncated, or not written "
                + "by libtorch): " + firstLine(e), e);
    }

    /** The first line of a libtorch error (the rest is C++ frames). */
    static String firstLine(RuntimeException e) {
        return String.valueOf(e.getMessage()).lines().findFirst().orElse("").strip();
    }
}
