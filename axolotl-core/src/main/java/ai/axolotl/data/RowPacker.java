package ai.axolotl.data;

import java.util.ArrayList;
import java.util.List;

/**
 * Makes rows from examples: with packing, consecutive examples are placed into rows of at most
 * {@code sequence_len} tokens (in order, so the result is deterministic); without, one example per row. The first
 * token of every example is never a target, so packing does not change which tokens are trained on.
 */
public final class RowPacker {
    private RowPacker() {}

    /** Rows from examples, in order. */
    public static List<PackedRow> pack(List<Example> examples, int sequenceLen, boolean packing) {
        List<PackedRow> rows = new ArrayList<>();
        List<Example> current = new ArrayList<>();
        int used = 0;
        for (Example e : examples) {
            if (!packing) {
                rows.add(row(List.of(e)));
                continue;
            }
            if (used + e.length() > sequenceLen && !current.isEmpty()) {
                rows.add(row(current));
                current = new ArrayList<>();
                used = 0;
            }
            current.add(e);
            used += e.length();
        }
        if (!current.isEmpty()) {
            rows.add(row(current));
        }
        return rows;
    }

    private static PackedRow row(List<Example> parts) {
        int n = parts.stream().mapToInt(Example::length).sum();
        int[] ids = new int[n];
        int[] labels = new int[n];
        int[] pos = new int[n];
        int[] seg = new int[n];
        int at = 0;
        int segment = 1;
        for (Example e : parts) {
            System.arraycopy(e.inputIds(), 0, ids, at, e.length());
            System.arraycopy(e.labels(), 0, labels, at, e.length());
            for (int i = 0; i < e.length(); i++) {
                pos[at + i] = i;
                seg[at + i] = segment;
            }
            // a sample's first token is never a target: not predicted from the previous sample's last token, so a
            // packed row trains on exactly the tokens its samples would train on alone
            labels[at] = -100;
            at += e.length();
            segment++;
        }
        return new PackedRow(ids, labels, pos, seg);
    }
}
