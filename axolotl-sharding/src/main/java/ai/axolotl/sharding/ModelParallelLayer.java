package ai.axolotl.sharding;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.model.WeightSink;
import ai.axolotl.train.ModelLoader;
import ai.axolotl.train.UnitHooks;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A parallelism that splits the model itself over a group of the mesh (tensor parallel now, context parallel next),
 * applied by the {@link ParallelPlan} before the data-parallel layer: it makes this rank's slice of the model,
 * adjusts gradients its slicing leaves partial, tells the plan how its group enters the global gradient norm, lays
 * out its slices in checkpoints, and gathers slices for the export. Every method has the behaviour of "no model
 * parallelism" by default, so an implementation overrides only what its slicing changes.
 */
public interface ModelParallelLayer {
    /** The name of the composed strategy for logs and benchmarks, given the data-parallel layer's name. */
    default String name(String layerName) {
        return layerName;
    }

    /** The model this rank starts from, before {@link #parallelize}: the whole base model unless overridden. */
    default CausalLm loadModel(AxolotlConfig config) {
        return ModelLoader.load(config);
    }

    /**
     * This rank's model made from the loaded one: the same model, or one whose parameters are this rank's slices and
     * whose layers communicate. An implementation that replaces the model closes the one it was given.
     */
    default CausalLm parallelize(CausalLm model) {
        return model;
    }

    /**
     * The model the run trains, as the data-parallel layer receives it: the parallelized one, or an adapter over it
     * (whose trainable parameters are declared by that model, not by the base).
     */
    default void setup(CausalLm model) {}

    /** The hooks around each unit: the layer's, with this parallelism's gradient adjustments before they run. */
    default UnitHooks hooks(DataParallelLayer layer) {
        return layer.hooks();
    }

    /** How much of a parameter's squared gradient this rank counts in the global norm (1/size when replicated). */
    default double gradientSquaresWeight(String parameter) {
        return 1.0;
    }

    /** Sums a scalar over this parallelism's group (the global norm's squares, the stop agreement). */
    default double sumOverGroup(double value) {
        return value;
    }

    /** Waits for every rank of this parallelism's group. */
    default void barrier() {}

    /**
     * Writes this rank's part of a checkpoint in {@code dir} through the layer's {@link StateCheckpoints}.
     *
     * @return true when the checkpoint should also hold the whole model as HF safetensors (the plan streams it)
     */
    default boolean saveCheckpoint(Path dir, DataParallelLayer layer, boolean includeOptimizer) throws IOException {
        layer.saveCheckpoint(dir, includeOptimizer);
        return layer.checkpointHoldsFullModel();
    }

    /** Reads this rank's state from a checkpoint of this or another mesh into the layer. */
    default void loadCheckpoint(Path dir, DataParallelLayer layer) throws IOException {
        layer.loadCheckpoint(dir);
    }

    /**
     * Passes one parameter of this rank's slice, whole over the data-parallel group, to the export: gathers the
     * slices of its group when the parameter is split (a collective over the group) and hands the whole tensor to
     * {@code mainSink}, which writes only on the main rank.
     */
    default void exportParameter(String name, Tensor slice, WeightSink mainSink) throws IOException {
        mainSink.accept(name, slice);
    }

    /** No model parallelism: every rank holds the whole model (before the data-parallel layer shards it). */
    ModelParallelLayer NONE = new ModelParallelLayer() { };
}
