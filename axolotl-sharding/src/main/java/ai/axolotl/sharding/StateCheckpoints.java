package ai.axolotl.sharding;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The checkpoint-I/O concern of a data-parallel layer: its own layout at the top of a checkpoint (no model
 * parallelism), the state of one model slice in a directory a model parallelism chooses, and reading state that
 * another mesh or another layer wrote.
 */
public interface StateCheckpoints {
    /**
     * Writes this rank's model and optimizer state as the top of a checkpoint directory, in this layer's own
     * layout (DDP: the HF model and {@code optimizer.pt} from rank 0; ZeRO / FSDP2: one partition file per shard
     * rank).
     */
    void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException;

    /** True when a checkpoint of this layer should also hold the whole model as HF safetensors (written by the plan). */
    default boolean checkpointHoldsFullModel() {
        return false;
    }

    /** Restores what {@link #saveCheckpoint} wrote, or cuts state written on another mesh to this rank. */
    void loadCheckpoint(Path dir) throws IOException;

    /**
     * Writes this rank's part of the model and optimizer state under {@code dir} (no consolidated model), writing
     * nothing that another rank of the same data-parallel group also writes.
     */
    void saveState(Path dir, boolean includeOptimizer) throws IOException;

    /** True when {@code dir} holds what this layer's {@link #saveState} writes (same layer, same slice). */
    boolean canLoadState(Path dir);

    /** Reads what {@link #saveState} wrote into this rank's model and optimizer. */
    void loadState(Path dir) throws IOException;

    /**
     * Reads this rank's state from a checkpoint of another mesh or another data-parallel layer: every parameter
     * and moment as this rank's model holds it (its tensor-parallel slice), cut to this layer's placement.
     *
     * @throws ai.axolotl.train.TrainingException when this layer cannot take state from another mesh
     */
    void loadFrom(MeshCheckpoint checkpoint) throws IOException;
}
