package ai.axolotl.train;

import ai.axolotl.runtime.Device;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;

import java.nio.file.Path;
import java.util.Map;

/** libtorch's AdamW or SGD (two weight-decay groups) as a {@link TrainOptimizer}. */
final class LibtorchOptimizer implements TrainOptimizer {
    private final Optimizer optimizer;
    private final Map<String, Tensor> params;
    private final boolean adamw;
    private boolean stepped;

    LibtorchOptimizer(Optimizer optimizer, Map<String, Tensor> params, boolean adamw) {
        this.optimizer = optimizer;
        this.params = params;
        this.adamw = adamw;
    }

    @Override
    public void step(double lr) {
        OptimizerFactory.setLearningRate(optimizer, lr);
        optimizer.step();
        stepped = true;
    }

    @Override
    public void zeroGrad() {
        optimizer.zero_grad(true);
    }

    @Override
    public void save(Path file) {
        OptimizerFactory.save(optimizer, file);
    }

    @Override
    public void load(Path file, Device device) {
        OptimizerFactory.load(optimizer, file, device);
        stepped = true;
    }

    /** AdamW's two fp32 moments per parameter once it has stepped (SGD: none). */
    @Override
    public long stateBytes() {
        if (!adamw || !stepped) {
            return 0;
        }
        long b = 0;
        for (Tensor t : params.values()) {
            b += 2 * t.nbytes();
        }
        return b;
    }

    @Override
    public Optimizer libtorch() {
        return optimizer;
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
