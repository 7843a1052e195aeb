package ai.axolotl.train;

import ai.axolotl.config.LossScaleSettings;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Dynamic loss scaling for fp16 training, device-generic (a number, no tensors). Each step the backward runs on
 * {@code loss x scale()}; the strategy unscales while clipping and reports the true gradient norm; {@link #update}
 * then decides from that norm whether the step is applied: an overflow (non-finite norm) skips the step and, once
 * the hysteresis is spent, halves the scale; {@code growthInterval} applied steps in a row double it. The state
 * travels in checkpoints ({@link State}), so a resumed run continues with the scale it had.
 */
public final class LossScaler {
    private final LossScaleSettings settings;
    private double scale;
    private int goodSteps;
    private int hysteresisLeft;
    private long skipped;

    /** Starts at the settings' initial scale. */
    public LossScaler(LossScaleSettings settings) {
        this.settings = settings;
        this.scale = settings.initialScale();
        this.hysteresisLeft = settings.hysteresis();
    }

    /** The factor this step's loss is multiplied by before backward. */
    public double scale() {
        return scale;
    }

    /** Steps skipped for overflow since this scaler started (a resumed run counts from the checkpoint). */
    public long skippedSteps() {
        return skipped;
    }

    /**
     * Records one step's outcome.
     *
     * @param gradNorm the global norm of the unscaled gradients the strategy returned
     * @return true when the step is to be applied; false when it overflowed and must be skipped
     * @throws TrainingException when gradients overflow at the minimum scale (the run cannot make progress)
     */
    public boolean update(double gradNorm, int step) {
        if (Double.isFinite(gradNorm)) {
            goodSteps++;
            if (settings.consecutiveHysteresis()) {
                hysteresisLeft = settings.hysteresis();
            }
            if (settings.dynamic() && goodSteps >= settings.growthInterval()) {
                scale *= 2;
                goodSteps = 0;
                hysteresisLeft = settings.hysteresis();
            }
            return true;
        }
        skipped++;
        goodSteps = 0;
        if (!settings.dynamic()) {
            return false;
        }
        if (hysteresisLeft > 1) {
            hysteresisLeft--; // tolerated; the hysteresis refills when the scale next grows (as DeepSpeed does)
            return false;
        }
        if (settings.minScale() > 0 && scale <= settings.minScale()) {
            throw new TrainingException("fp16 gradients overflowed at step " + step + " at the minimum loss scale "
                    + settings.minScale() + " (deepspeed.fp16.min_loss_scale); lower learning_rate, or train with "
                    + "bf16: true");
        }
        scale = settings.minScale() > 0 ? Math.max(settings.minScale(), scale / 2) : scale / 2;
        return false;
    }

    /** The state a checkpoint keeps. */
    public State state() {
        return new State(scale, goodSteps, hysteresisLeft, skipped);
    }

    /** Continues from a checkpoint's state. */
    public void restore(State s) {
        scale = s.scale();
        goodSteps = s.goodSteps();
        hysteresisLeft = s.hysteresisLeft();
        skipped = s.skippedSteps();
    }

    /**
     * A scaler's position, as {@code trainer_state.json} records it under {@code loss_scaler}.
     *
     * @param scale the current scale
     * @param goodSteps applied steps since the scale last changed (or since the last overflow)
     * @param hysteresisLeft overflows still tolerated before the scale halves
     * @param skippedSteps steps skipped for overflow so far
     */
    public record State(@JsonProperty("scale") double scale, @JsonProperty("good_steps") int goodSteps,
                        @JsonProperty("hysteresis_left") int hysteresisLeft,
                        @JsonProperty("skipped_steps") long skippedSteps) {}
}
