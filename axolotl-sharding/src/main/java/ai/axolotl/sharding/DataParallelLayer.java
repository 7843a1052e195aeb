package ai.axolotl.sharding;

import ai.axolotl.model.LlamaModel;
import ai.axolotl.train.TrainingStrategy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.ToDoubleFunction;

/**
 * The data-parallel layer of a composed plan: what a model-parallel strategy (tensor parallel now, context parallel
 * next) needs from the strategy that replicates or shards its model slice over the data-parallel ranks (DDP, ZeRO
 * 1-3, FSDP2, HSDP). The model-parallel strategy owns the model's slicing and the collectives of its own group;
 * the layer beneath owns gradient synchronisation, parameter placement over the data-parallel group and the
 * optimizer. Splitting clipping into {@link #finishGradientReduction}, {@link #gradientSquares} and
 * {@link #scaleGradients} lets the global norm span every group of the mesh.
 */
public interface DataParallelLayer extends TrainingStrategy {
    /** The model this rank trains (after {@link #setup}). */
    LlamaModel model();

    /**
     * Waits for the step's gradient collectives: afterwards the gradients this layer keeps (whole in the
     * parameters for DDP, partitions for ZeRO-2/3 and FSDP2) hold the sum over the data-parallel ranks.
     */
    void finishGradientReduction();

    /**
     * The weighted sum of squared gradient elements of this rank's model slice, over the data-parallel group:
     * {@code sum over parameters p of weight(p) * |grad p|^2}, each element counted once however the layer spreads
     * the gradients (a collective over the layer's group when it partitions them).
     */
    double gradientSquares(ToDoubleFunction<String> weight);

    /** Multiplies every gradient this layer keeps by {@code coefficient} (clipping). */
    void scaleGradients(double coefficient);

    /**
     * True when the layer consumes each micro-batch's gradients as its backward ends (ZeRO-2/3, FSDP2 reduce-scatter
     * them), so a strategy above that adjusts gradients must do so every micro-batch, not only on the last one.
     */
    default boolean reducesGradientsEveryMicroBatch() {
        return false;
    }

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
