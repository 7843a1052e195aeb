package ai.axolotl.sharding.tp;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * What the tensor-parallel regions sent over their group, counted as they run: per kind of collective
 * ({@code all_gather}, {@code reduce_scatter}, {@code all_reduce}), the number of calls and the elements of the full
 * (gathered, or not yet scattered) tensor, forward and backward together. The loss's per-token sums are not
 * activations and are not counted here.
 */
public final class ActivationTraffic {
    /** The kinds of collective, in report order. */
    public enum Kind { ALL_GATHER, REDUCE_SCATTER, ALL_REDUCE }

    private final AtomicLongArray calls = new AtomicLongArray(Kind.values().length);
    private final AtomicLongArray elements = new AtomicLongArray(Kind.values().length);

    void add(Kind kind, long fullElements) {
        calls.incrementAndGet(kind.ordinal());
        elements.addAndGet(kind.ordinal(), fullElements);
    }

    /** Calls of a kind so far. */
    public long calls(Kind kind) {
        return calls.get(kind.ordinal());
    }

    /** Elements of a kind so far (of the full tensors). */
    public long elements(Kind kind) {
        return elements.get(kind.ordinal());
    }

    /** {@code {"all_gather": {"calls": n, "elements": e}, ...}} averaged over {@code steps}, for reports. */
    public Map<String, Map<String, Long>> perStep(int steps) {
        Map<String, Map<String, Long>> m = new LinkedHashMap<>();
        for (Kind k : Kind.values()) {
            m.put(k.name().toLowerCase(Locale.ROOT), Map.of("calls", calls(k) / steps,
                    "elements", elements(k) / steps));
        }
        return m;
    }
}
