package ai.axolotl.train;

import ai.axolotl.model.ModelUnit;

/** Hooks that hand every call to other hooks; a layer (or a test) overrides what it adds to or observes. */
public class ForwardingUnitHooks implements UnitHooks {
    /** The hooks every call goes to. */
    protected final UnitHooks inner;

    /** Forwards to {@code inner}. */
    public ForwardingUnitHooks(UnitHooks inner) {
        this.inner = inner;
    }

    @Override
    public void beforeForward(ModelUnit unit) {
        inner.beforeForward(unit);
    }

    @Override
    public void afterForward(ModelUnit unit) {
        inner.afterForward(unit);
    }

    @Override
    public void beforeBackward(ModelUnit unit) {
        inner.beforeBackward(unit);
    }

    @Override
    public void afterEvaluationForward(ModelUnit unit) {
        inner.afterEvaluationForward(unit);
    }

    @Override
    public void afterBackward(ModelUnit unit, boolean lastMicroStep) {
        inner.afterBackward(unit, lastMicroStep);
    }
}
