package ai.axolotl.train;

import ai.axolotl.model.ModelUnit;

/**
 * Points around each unit's forward and backward where a sharding strategy acts: gather parameters before a
 * unit runs, free them after, reduce its gradients once its backward is done.
 */
public interface UnitHooks {
    /** Hooks that do nothing (single process). */
    UnitHooks NONE = new UnitHooks() {};

    /** Before {@code unit}'s forward (also before its recomputation under gradient checkpointing). */
    default void beforeForward(ModelUnit unit) {}

    /** After {@code unit}'s forward. */
    default void afterForward(ModelUnit unit) {}

    /** Before {@code unit}'s backward. */
    default void beforeBackward(ModelUnit unit) {}

    /**
     * After {@code unit}'s backward; its parameters' gradients are complete for this micro-batch.
     *
     * @param lastMicroStep true on the last micro-batch of an optimizer step (when gradients should be reduced)
     */
    default void afterBackward(ModelUnit unit, boolean lastMicroStep) {}
}
