package ai.axolotl.train;

import java.io.Serializable;
import java.util.Locale;

/**
 * Token-weighted mean loss over every label token of an evaluation set.
 *
 * @param loss mean loss
 * @param tokens label tokens counted
 */
public record EvalResult(double loss, long tokens) implements Serializable {
    /** {@code exp(loss)}. */
    public double perplexity() {
        return Math.exp(loss);
    }

    /** The JSON line {@code axolotl evaluate} prints. */
    public String toJson() {
        return String.format(Locale.ROOT, "{\"loss\": %.6f, \"tokens\": %d, \"perplexity\": %.4f}", loss,
                tokens, perplexity());
    }
}
