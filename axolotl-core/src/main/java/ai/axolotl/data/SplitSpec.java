package ai.axolotl.data;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A dataset {@code split} in Hugging Face {@code datasets}' slice grammar, on local files (whose one split is
 * {@code train}): {@code train}, {@code train[10:100]}, {@code train[:20%]}, negative bounds from the end,
 * {@code +} to join slices, and a rounding suffix {@code (closest)} (default) or {@code (pct1_dropremainder)}.
 * Percentages become rows as {@code datasets} computes them: {@code round(p * n / 100)} with Python's rounding
 * (half to even), or {@code p * trunc(n / 100)} with {@code pct1_dropremainder}. Bounds are clamped to the rows;
 * row order is kept.
 */
public final class SplitSpec {
    private static final Pattern PART = Pattern.compile(
            "^\\s*(\\w+)(\\[\\s*(?:(-?\\d+)\\s*(%)?)?\\s*(:\\s*(?:(-?\\d+)\\s*(%)?)?)?\\s*])?(?:\\(([^)]*)\\))?\\s*$");

    private record Part(Integer from, Integer to, boolean percent, boolean dropRemainder) {}

    private final List<Part> parts;

    private SplitSpec(List<Part> parts) {
        this.parts = parts;
    }

    /** Why {@code split} cannot be used on a local dataset, or null when it can. */
    public static String problem(String split) {
        try {
            parse(split);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    /** Parses {@code split}; an error message names what is wrong. */
    public static SplitSpec parse(String split) {
        List<Part> parts = new ArrayList<>();
        for (String piece : split.split("\\+", -1)) {
            Matcher m = PART.matcher(piece);
            if (!m.matches()) {
                throw new IllegalArgumentException("'" + split + "' is not a split: expected train, train[a:b] or "
                        + "train[a%:b%], joined with +");
            }
            if (!m.group(1).equals("train")) {
                throw new IllegalArgumentException("split '" + m.group(1) + "' does not exist: a local dataset has "
                        + "one split, train");
            }
            if (m.group(2) != null && m.group(5) == null) {
                throw new IllegalArgumentException("'" + piece.trim() + "' selects one row; write a slice "
                        + "train[a:b]");
            }
            String rounding = m.group(8);
            if (rounding != null && !rounding.equals("closest") && !rounding.equals("pct1_dropremainder")) {
                throw new IllegalArgumentException("rounding '" + rounding + "' is not closest or "
                        + "pct1_dropremainder");
            }
            boolean percent = m.group(4) != null || m.group(7) != null;
            Integer from = m.group(3) == null ? null : Integer.valueOf(m.group(3));
            Integer to = m.group(6) == null ? null : Integer.valueOf(m.group(6));
            if (percent) {
                for (Integer b : new Integer[] {from, to}) {
                    if (b != null && Math.abs(b) > 100) {
                        throw new IllegalArgumentException("percent slice bound " + b + "% is outside -100%..100%");
                    }
                }
            }
            parts.add(new Part(from, to, percent, "pct1_dropremainder".equals(rounding)));
        }
        return new SplitSpec(parts);
    }

    /** The selected rows of {@code rows}, slices in order. */
    public <T> List<T> apply(List<T> rows) {
        int n = rows.size();
        List<T> out = new ArrayList<>();
        for (Part p : parts) {
            if (p.dropRemainder() && p.percent() && n < 100) {
                throw new DataException("split: pct1_dropremainder needs at least 100 rows, the dataset has " + n);
            }
            Integer from = absolute(p.from(), p, n);
            Integer to = absolute(p.to(), p, n);
            int a = from == null ? 0 : from < 0 ? Math.max(n + from, 0) : from;
            int b = to == null ? n : to < 0 ? Math.max(n + to, 0) : to;
            a = Math.min(a, n);
            b = Math.min(b, n);
            if (a < b) {
                out.addAll(rows.subList(a, b));
            }
        }
        return out;
    }

    private static Integer absolute(Integer bound, Part p, int n) {
        if (bound == null || !p.percent()) {
            return bound;
        }
        if (p.dropRemainder()) {
            return bound * (n / 100);
        }
        return (int) Math.rint(bound * (double) n / 100.0);
    }
}
