package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.model.DType;
import ai.axolotl.model.HfModelWriter;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.WeightSink;
import ai.axolotl.runtime.Device;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the trainer drives on one rank: which parameters and optimizer state this rank holds, what happens around
 * each unit, how gradients are reduced and clipped, how ranks agree, and how checkpoints are written. There are two
 * implementations: the single-process {@link SingleProcessStrategy} (the default) and the sharding module's
 * {@code ParallelPlan}, which composes the parallelisms. A parallelism does not implement this interface: it
 * implements the plan's narrower one for its concern (a data-parallel layer: parameter placement, gradient sync,
 * checkpoint I/O; a model-parallel layer: how it slices the model), and the plan does the rest once.
 *
 * <p>This is also the pluggable unit a user implements and hands to {@code TrainerBuilder.strategy(...)}: the
 * strategy test kit (the sharding module's test jar, {@code StrategyTestKit}) is the bar every implementation passes
 * unchanged; {@code ai.axolotl.examples.AllReduceDataParallel} is a user-written one that does.
 */
public interface ShardingStrategy extends AutoCloseable {
    /** Short name for logs and benchmarks ({@code single}, {@code ddp}, ...). */
    String name();

    /** This process's global rank. */
    int rank();

    /** Number of ranks. */
    int worldSize();

    /** This rank's index among the ranks that split each global batch. */
    int dataParallelRank();

    /** Number of ranks that split each global batch. */
    int dataParallelSize();

    /**
     * The device this rank trains on: the trainer moves the model there before {@link #setup}, builds every batch
     * there, and the strategy makes its buffers there. The CPU unless an implementation decides otherwise.
     */
    default Device device() {
        return Device.cpu("the strategy's default");
    }

    /**
     * This rank's index among the ranks of its node (torchrun's {@code LOCAL_RANK}; 0 in one process). Local rank 0
     * prints the lines about the whole run (steps, evaluations, what is trained): a node's ranks share a console.
     */
    default int localRank() {
        return 0;
    }

    /** True on the rank that writes checkpoints, metrics and the exported model. */
    default boolean isMain() {
        return rank() == 0;
    }

    /**
     * True when only rank 0 should read the model's weights: the other ranks get a placeholder model (no storage)
     * and receive their partitions from rank 0 in {@link #setup} (FSDP's cpu_ram_efficient_loading).
     */
    default boolean rankZeroLoadsWeights() {
        return false;
    }

    /**
     * The model this rank starts from, before {@link #parallelize}: by default the whole base model
     * ({@link ModelLoader#load}); a strategy whose rank holds only slices may read only those.
     */
    default CausalLm loadModel(AxolotlConfig config) {
        return ModelLoader.load(config);
    }

    /**
     * The model this rank runs, made from the loaded one before {@link #setup}: the same model, or (tensor
     * parallel) one whose parameters are this rank's slices and whose layers communicate. A strategy that replaces
     * the model closes the one it was given.
     */
    default CausalLm parallelize(CausalLm model) {
        return model;
    }

    /** Takes the model and builds the optimizer over what this rank holds. Called once before training. */
    void setup(CausalLm model, OptimizerSettings optimizer);

    /** Hooks around each unit. */
    UnitHooks hooks();

    /** Sum of {@code value} over all ranks (token counts, loss sums). */
    double allReduceSum(double value);

    /** True when {@code local} is true on any rank; every rank calls it at the same point of the step. */
    default boolean anyRank(boolean local) {
        return allReduceSum(local ? 1 : 0) > 0;
    }

    /**
     * Completes gradient reduction after the last micro-batch, then clips gradients to a global norm.
     *
     * @param maxNorm clip threshold; 0 means no clipping
     * @return the global gradient norm before clipping
     */
    default double reduceAndClipGradients(double maxNorm) {
        return reduceAndClipGradients(maxNorm, 1.0);
    }

    /**
     * Completes gradient reduction after the last micro-batch of a loss-scaled step (the gradients hold
     * {@code gradScale} times the true gradients), then unscales and clips in one multiplication: the gradients
     * become the true gradients clipped to {@code maxNorm}. When the global norm is not finite (an fp16
     * overflow on some rank), the gradients are left as they are and the caller skips the step
     * ({@link #skipStep}); every rank sees the same norm, so every rank skips.
     *
     * @param maxNorm clip threshold; 0 means no clipping
     * @param gradScale the loss scale the backward ran with; 1 without loss scaling
     * @return the global norm of the true (unscaled) gradients before clipping; infinite or NaN on overflow
     */
    double reduceAndClipGradients(double maxNorm, double gradScale);

    /** Applies one optimizer step with learning rate {@code lr} and clears gradients. */
    void step(double lr);

    /**
     * Discards this step's gradients without touching weights or optimizer state (a loss-scaled step whose
     * gradients overflowed): leaves everything as {@link #step} leaves it, minus the update.
     */
    void skipStep();

    /** Writes this rank's model and optimizer state into a checkpoint directory. */
    void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException;

    /** Restores model and optimizer state from a checkpoint directory written by {@link #saveCheckpoint}. */
    void loadCheckpoint(Path dir) throws IOException;

    /**
     * Hands the full model weights, one at a time in the model's parameter order, to {@code sink} on the rank that
     * exports ({@link #isMain()}); a collective: every rank calls it. A sharded strategy gathers one parameter at a
     * time, so no rank holds more than its shards plus one full parameter.
     */
    void streamFullWeights(WeightSink sink) throws IOException;

    /**
     * Writes the full model as an HF model directory ({@code config.json} + safetensors in {@code dtype}) on the
     * main rank, streamed from {@link #streamFullWeights}; a collective: every rank calls it.
     */
    default void writeFullModel(Path dir, ModelConfig config, DType dtype) throws IOException {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String name : config.parameterNames()) {
            shapes.put(name, config.parameterShape(name));
        }
        try (HfModelWriter w = isMain() ? new HfModelWriter(dir, config, shapes, dtype, 2L << 30) : null) {
            streamFullWeights((name, t) -> {
                if (w != null) {
                    w.accept(name, t);
                }
            });
        }
    }

    /** Bytes of model state this rank holds: parameters, gradients, optimizer state. */
    long modelStateBytes();

    /**
     * Hands {@code model}'s frozen parameters ({@link CausalLm#frozenParameters()}), whole and one at a time, to
     * {@code sink} on every rank (the caller writes on the main rank only); a collective: every rank calls it. A
     * strategy that shards the frozen base gathers one tensor at a time.
     */
    default void streamFrozenWeights(CausalLm model, WeightSink sink) throws IOException {
        for (Map.Entry<String, Tensor> e : model.frozenParameters().entrySet()) {
            sink.accept(e.getKey(), e.getValue());
        }
    }

    /**
     * Bytes of {@code model}'s frozen base this rank holds now (every unit's {@link ai.axolotl.model.ModelUnit#frozenTensors()}),
     * read from the storages: whole on one process and under DDP, this rank's shards under ZeRO-3 and FSDP2.
     */
    default long frozenBytesHeld(CausalLm model) {
        return model.frozenBytesHeld();
    }

    /**
     * Starts recording the peaks of what this rank holds during each step, read from the tensors' storages
     * (model state; gathered parameters where the strategy frees them). Costs a walk over the parameters per unit,
     * so it is for benchmarks and tests. Strategies without anything to probe ignore it.
     */
    default void enableMemoryProbe() {}

    /** The peaks the memory probe recorded, by JSON field name, in bytes; empty without a probe. */
    default Map<String, Long> memoryPeaks() {
        return Map.of();
    }

    /** The device mesh's axes and sizes, for checkpoints and exports; one process: all 1. */
    default Map<String, Integer> mesh() {
        return Map.of("dp_replicate", 1, "dp_shard", 1, "cp", 1, "tp", 1);
    }

    /**
     * This rank's part of a micro-batch of {@code rows}, padded to at least {@code padTo} and to a multiple of
     * {@code multiple}: the whole rows, or under context parallel this rank's chunks of each row with the key tables
     * its attention needs ({@link MicroBatch#shard}).
     */
    default MicroBatch microBatch(List<PackedRow> rows, int padTo, int padId, int multiple, Device device) {
        return MicroBatch.of(rows, padTo, padId, multiple, device);
    }

    /**
     * The label tokens of this rank's part of {@code rows} (as {@link #microBatch} cuts them): summed over the
     * loss group ({@link #allReduceSum}), the step's token count with none counted twice.
     */
    default long labelTokens(List<PackedRow> rows, int padTo, int multiple) {
        return MicroBatch.labelTokens(rows);
    }

    /** Waits until every rank arrives. */
    void barrier();

    /**
     * Checks, before step 1, that every rank runs the same thing: each rank's facts (config hash and keys,
     * library version, dataset fingerprint, view of the world) must equal rank 0's, else every rank fails
     * naming the ranks and the differing items. Single process: nothing to check.
     */
    default void preflight(Map<String, String> facts) {}

    /**
     * Waits until every rank reached {@code point} (the trainer's: its load of model, data and checkpoint done);
     * throws on every rank, naming the rank and its message, as soon as one reports a failure instead. Single
     * process: nothing to wait for.
     */
    default void agree(String point) {}

    /**
     * Tells the other ranks this rank failed with {@code message}, so they stop at their next wait naming it
     * rather than waiting for it until the collective timeout; this rank then skips its closing barrier. Best
     * effort, never throws. Single process: no one to tell.
     */
    default void reportFailure(String message) {}

    @Override
    void close();
}
