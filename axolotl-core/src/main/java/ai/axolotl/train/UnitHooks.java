package ai.axolotl.train;

import ai.axolotl.model.ModelUnit;

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
     * {@link #afterBackward}: a recomputed unit runs its forward again in between (without forward hooks).
     */
    default void beforeBackward(ModelUnit unit) {}

    /**
     * True when {@code unit}'s forward should run without autograd and be recomputed just before its backward
     * (ZeRO-3 uses this so that no saved activation keeps gathered parameters alive between the two).
     */
    default boolean recompute(ModelUnit unit) {
        return false;
    }

    /**
     * After {@code unit}'s backward; its parameters' gradients are complete for this micro-batch.
     *
     * @param lastMicroStep true on the last micro-batch of an optimizer step (when gradients should be reduced)
     */
    default void afterBackward(ModelUnit unit, boolean lastMicroStep) {}
}
