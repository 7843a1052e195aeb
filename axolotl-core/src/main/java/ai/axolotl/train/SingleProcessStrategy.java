package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.model.DType;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.WeightSink;
import ai.axolotl.runtime.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/** Everything in one process: the whole model, its gradients and the whole optimizer state. */
public final class SingleProcessStrategy implements ShardingStrategy {
    /** Optimizer state file inside a checkpoint. */
    public static final String OPTIMIZER_FILE = "optimizer.pt";
    private CausalLm model;
    private TrainOptimizer optimizer;
    private TensorVector params;
    private Device device;

    /** One process on the device {@link Device#forRank} decides for local rank 0, on first use. */
    public SingleProcessStrategy() {
        this(null);
    }

    /**
     * One process on {@code device} (a launcher's decision), or, when null, on the device {@link Device#forRank}
     * decides for local rank 0 on first use.
     */
    public SingleProcessStrategy(Device device) {
        this.device = device;
    }

    @Override
    public String name() {
        return "single";
    }

    /** The given device, else decided on first use for local rank 0 ({@code AXOLOTL_DEVICE}, else cuda:0, else cpu). */
    @Override
    public Device device() {
        if (device == null) {
            device = Device.forRank(0, System.getenv());
        }
        return device;
    }

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int worldSize() {
        return 1;
    }

    @Override
    public int dataParallelRank() {
        return 0;
    }

    @Override
    public int dataParallelSize() {
        return 1;
    }

    @Override
    public void setup(CausalLm model, OptimizerSettings settings) {
        this.model = model;
        this.optimizer = OptimizerFactory.forTraining(settings, model.parameters());
        this.params = new TensorVector(model.parameters().values().toArray(new Tensor[0]));
    }

    @Override
    public UnitHooks hooks() {
        return UnitHooks.NONE;
    }

    @Override
    public double allReduceSum(double value) {
        return value;
    }

    @Override
    public double reduceAndClipGradients(double maxNorm, double gradScale) {
        return GradientClipping.clip(params, maxNorm, gradScale);
    }

    @Override
    public void step(double lr) {
        optimizer.step(lr);
        optimizer.zeroGrad();
    }

    @Override
    public void skipStep() {
        optimizer.zeroGrad();
    }

    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        saveWhole(dir, model, optimizer, includeOptimizer);
    }

    @Override
    public void loadCheckpoint(Path dir) throws IOException {
        loadWhole(dir, model, optimizer);
    }

    /** Writes a whole model (HF safetensors + config.json) and, optionally, its optimizer into a checkpoint. */
    public static void saveWhole(Path dir, CausalLm model, TrainOptimizer optimizer, boolean includeOptimizer)
            throws IOException {
        HfCheckpoint.save(dir, model.config(), model.parameters(), DType.F32, Long.MAX_VALUE);
        if (includeOptimizer) {
            optimizer.save(dir.resolve(optimizer.fileName()));
        }
    }

    /** Restores a whole model and its optimizer from a checkpoint written by {@link #saveWhole}. */
    public static void loadWhole(Path dir, CausalLm model, TrainOptimizer optimizer) throws IOException {
        Path opt = dir.resolve(optimizer.fileName());
        if (!Files.isRegularFile(opt)) {
            throw new TrainingException(opt + " not found (saved with save_only_model, or not on storage this "
                    + "rank can read?); this checkpoint cannot be resumed");
        }
        copyWeights(model, HfCheckpoint.readWeights(dir), dir.toString());
        optimizer.load(opt, model.device());
    }

    /** Bytes of a whole model's state: parameters, gradients and the optimizer's state held. */
    public static long wholeStateBytes(CausalLm model, TrainOptimizer optimizer) {
        long paramBytes = 0;
        for (Tensor t : model.parameters().values()) {
            paramBytes += t.nbytes();
        }
        return paramBytes * 2 + optimizer.stateBytes();
    }

    /** Copies named weights into a model's parameters in place (closing the given tensors). */
    public static void copyWeights(CausalLm model, Map<String, Tensor> weights, String source) {
        try (NoGradGuard g = new NoGradGuard()) {
            for (String name : weights.keySet()) {
                if (!model.parameters().containsKey(name)) {
                    throw new TrainingException(source + ": tensor '" + name + "' is not a parameter of this run's "
                            + "model (" + model.config().numHiddenLayers() + " layers): not the same model");
                }
            }
            for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
                Tensor w = weights.get(e.getKey());
                if (w == null) {
                    throw new TrainingException(source + ": missing tensor '" + e.getKey() + "'");
                }
                if (!Arrays.equals(w.shape(), e.getValue().shape())) {
                    throw new TrainingException(source + ": tensor '" + e.getKey() + "' has shape "
                            + Arrays.toString(w.shape()) + ", expected " + Arrays.toString(e.getValue().shape()));
                }
                e.getValue().copy_(w);
            }
        } finally {
            weights.values().forEach(Tensor::close);
        }
    }

    @Override
    public void streamFullWeights(WeightSink sink) throws IOException {
        for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
            sink.accept(e.getKey(), e.getValue());
        }
    }

    @Override
    public long modelStateBytes() {
        return wholeStateBytes(model, optimizer);
    }

    @Override
    public void barrier() {}

    @Override
    public void close() {
        if (optimizer != null) {
            optimizer.close();
        }
        if (params != null) {
            params.close();
        }
    }
}
