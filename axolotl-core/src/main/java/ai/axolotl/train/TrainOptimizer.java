package ai.axolotl.train;

import ai.axolotl.runtime.Device;
import org.bytedeco.pytorch.Optimizer;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The optimizer of a strategy that holds whole parameters (one process, DDP): libtorch's AdamW or SGD
 * ({@link #libtorch()}), or a low-bit AdamW ({@code ai.axolotl.train.optim.JavaAdamW}).
 */
public interface TrainOptimizer extends AutoCloseable {
    /** One update at learning rate {@code lr} from the parameters' gradients (which are left as they are). */
    void step(double lr);

    /** Releases every parameter's gradient (set to none). */
    void zeroGrad();

    /** Saves the state to {@code file} (this optimizer's own format). */
    void save(Path file) throws IOException;

    /** Restores the state saved by {@link #save}, placed on {@code device}. */
    void load(Path file, Device device) throws IOException;

    /** The state's file name inside a checkpoint. */
    default String fileName() {
        return SingleProcessStrategy.OPTIMIZER_FILE;
    }

    /** Bytes of optimizer state held. */
    long stateBytes();

    /** libtorch's optimizer when this is one (its archive can be rewritten for another mesh), else null. */
    default Optimizer libtorch() {
        return null;
    }

    @Override
    void close();
}
