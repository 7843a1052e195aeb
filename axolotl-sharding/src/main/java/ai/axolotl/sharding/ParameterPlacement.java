package ai.axolotl.sharding;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.model.WeightSink;
import ai.axolotl.train.UnitHooks;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.util.Map;

/**
 * The parameter-placement concern of a data-parallel layer: where this rank's parameters and optimizer state live
 * (whole, or partitioned over the shard group), what happens to them around each unit (gather, free, reduce), and
 * what that placement costs in memory.
 */
public interface ParameterPlacement {
    /**
     * True when only rank 0 should read the model's weights: the other ranks get a placeholder model (no storage)
     * and receive their partitions from rank 0 in {@link #setup} (FSDP's cpu_ram_efficient_loading).
     */
    default boolean rankZeroLoadsWeights() {
        return false;
    }

    /** Takes the model (this rank's slice of it under a model parallelism) and builds the optimizer. */
    void setup(CausalLm model, OptimizerSettings optimizer);

    /** The model this rank trains (after {@link #setup}). */
    CausalLm model();

    /** Hooks around each unit: gathers before it runs, frees after, gradient reductions as its backward ends. */
    UnitHooks hooks();

    /**
     * Hands every parameter of this rank's model, whole over the layer's group, to {@code sink} on the layer's
     * first data-parallel rank, one at a time in the model's order; a collective over the layer's group.
     */
    void streamWeights(WeightSink sink) throws IOException;

    /**
     * Hands every frozen parameter of the model ({@link CausalLm#frozenParameters()}), whole over the layer's
     * group, to {@code sink} on every rank, one at a time; a collective over the layer's group. By default the
     * frozen base is held whole and handed over as it is.
     */
    default void streamFrozenWeights(WeightSink sink) throws IOException {
        for (Map.Entry<String, Tensor> e : model().frozenParameters().entrySet()) {
            sink.accept(e.getKey(), e.getValue());
        }
    }

    /**
     * Bytes of this rank's part of the frozen base held now, read from the storages: every unit's frozen tensors
     * as the model holds them, plus whatever shards of them the layer keeps.
     */
    default long frozenBytesHeld() {
        return model().frozenBytesHeld();
    }

    /** Bytes of model state this rank holds now: parameters, gradients, optimizer state. */
    long modelStateBytes();

    /** Starts recording the peaks of what this rank holds during each step (benchmarks and tests). */
    default void enableMemoryProbe() {}

    /** The peaks the memory probe recorded, by JSON field name, in bytes; empty without a probe. */
    default Map<String, Long> memoryPeaks() {
        return Map.of();
    }
}
