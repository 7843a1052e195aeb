package ai.axolotl.data.jinja;

/** A template that cannot be compiled or rendered, or one that called {@code raise_exception}. */
public final class TemplateException extends RuntimeException {
    private final boolean raised;

    TemplateException(String message, boolean raised) {
        super(message);
        this.raised = raised;
    }

    TemplateException(String message) {
        this(message, false);
    }

    /** True when the template itself raised the error through {@code raise_exception(message)}. */
    public boolean raisedByTemplate() {
        return raised;
    }
}
