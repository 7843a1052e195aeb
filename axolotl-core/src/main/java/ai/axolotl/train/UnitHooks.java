package ai.axolotl.train;

import ai.axolotl.model.ModelUnit;

import java.util.function.BiConsumer;

/**
 * Points around each unit's forward and backward where a sharding strategy acts: gather parameters before a
 * unit runs, free them after, reduce its gradients once its backward is done.
 */
public interface UnitHooks {
    /** Hooks that do nothing (single process). */
    UnitHooks NONE = new UnitHooks() {};

    /** Before {@code unit}'s forward. */
    default void beforeForward(ModelUnit unit) {}

    /** After {@code unit}'s forward. */
    default void afterForward(ModelUnit unit) {}

    /**
     * Before {@code unit}'s backward. The unit's parameters must be present from here until
     * {@link #afterBackward}: under gradient checkpointing the unit runs its forward again in between (without
     * forward hooks), otherwise backward reads the activations autograd saved in forward, whose parameter
     * views must hold the gathered values again.
     */
    default void beforeBackward(ModelUnit unit) {}

    /**
     * After {@code unit}'s forward when no backward follows (evaluation): whatever was gathered for the unit can
     * be freed now. Defaults to {@link #afterForward}.
     */
    default void afterEvaluationForward(ModelUnit unit) {
        afterForward(unit);
    }

    /**
     * After {@code unit}'s backward; its parameters' gradients are complete for this micro-batch.
     *
     * @param lastMicroStep true on the last micro-batch of an optimizer step (when gradients should be reduced)
     */
    default void afterBackward(ModelUnit unit, boolean lastMicroStep) {}

    /**
     * {@code inner}'s hooks with {@code action} run just before its {@link #afterBackward}: for a layer that must
     * act on a unit's gradients before the strategy beneath reduces (and may free) them.
     *
     * @param action receives the unit and whether this is the step's last micro-batch
     */
    static UnitHooks beforeGradientReduction(UnitHooks inner, BiConsumer<ModelUnit, Boolean> action) {
        return new ForwardingUnitHooks(inner) {
            @Override
            public void afterBackward(ModelUnit unit, boolean lastMicroStep) {
                action.accept(unit, lastMicroStep);
                inner.afterBackward(unit, lastMicroStep);
            }
        };
    }
}
