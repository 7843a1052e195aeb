package ai.axolotl.sharding;

import java.util.function.ToDoubleFunction;

/**
 * The gradient-synchronisation concern of a data-parallel layer: making each gradient the sum over the
 * data-parallel ranks, exposing what clipping needs (the squares, a scale) and applying the optimizer step. The
 * {@link ParallelPlan} computes the global norm from {@link #gradientSquares} so that it can span every group of
 * the mesh (a model parallelism adds its own group's squares).
 */
public interface GradientSync {
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

    /** Multiplies every gradient this layer keeps by {@code coefficient} (unscaling and clipping). */
    void scaleGradients(double coefficient);

    /**
     * True when the layer consumes each micro-batch's gradients as its backward ends (ZeRO-2/3, FSDP2 reduce-scatter
     * them), so a parallelism above that adjusts gradients must do so every micro-batch, not only on the last one.
     */
    default boolean reducesGradientsEveryMicroBatch() {
        return false;
    }

    /** Applies one optimizer step with learning rate {@code lr} and clears the gradients. */
    void step(double lr);

    /** Clears this step's gradients without touching weights or optimizer state (an overflowed fp16 step). */
    void skipStep();
}
