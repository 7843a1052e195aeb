package ai.axolotl.data;

import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;

import java.util.List;

/**
 * A micro-batch as libtorch tensors, rows padded to one length. Padding has its own segment (0), label -100 and
 * position 0, so it neither attends to nor is attended by real tokens and never counts in the loss.
 *
 * <p>The loss pairs the logits at position j with {@link #targets()} at j: the labels shifted left by one on the
 * whole padded row ({@code targets[j] = labels[j + 1]}, -100 at the end), so a context-parallel shard, which holds
 * positions of the row that are not contiguous, keeps every pair of the whole row exactly once. A shard also
 * carries its attention tables: the global index of each of its tokens (queries), the global index of each key its
 * attention sees (the gathered order of every shard's tokens) and the keys' segments; a whole micro-batch has none
 * (queries and keys are the row itself).
 */
public final class MicroBatch implements AutoCloseable {
    private final Tensor inputIds;
    private final Tensor labels;
    private final Tensor targets;
    private final Tensor positionIds;
    private final Tensor segmentIds;
    private final Tensor queryIndex;
    private final Tensor keyIndex;
    private final Tensor keySegments;
    private final long labelTokens;
    private final long realTokens;

    private MicroBatch(Tensor inputIds, Tensor labels, Tensor targets, Tensor positionIds, Tensor segmentIds,
                       Tensor queryIndex, Tensor keyIndex, Tensor keySegments, long labelTokens, long realTokens) {
        this.inputIds = inputIds;
        this.labels = labels;
        this.targets = targets;
        this.positionIds = positionIds;
        this.segmentIds = segmentIds;
        this.queryIndex = queryIndex;
        this.keyIndex = keyIndex;
        this.keySegments = keySegments;
        this.labelTokens = labelTokens;
        this.realTokens = realTokens;
    }

    /** Number of tokens that count in the loss of a list of rows (labels shifted by one). */
    public static long labelTokens(List<PackedRow> rows) {
        long n = 0;
        for (PackedRow r : rows) {
            for (int i = 1; i < r.length(); i++) {
                if (r.labels()[i] != -100) {
                    n++;
                }
            }
        }
        return n;
    }

    /**
     * Rows padded on the host, row-major [rows, length] arrays: token ids, labels, next-token targets (shifted on
     * the whole row), positions and segments.
     */
    public record Host(int rows, int length, long[] ids, long[] labels, long[] targets, long[] positions,
                       long[] segments, long realTokens) {
        /**
         * Pads {@code rows} to {@code padTo} (at least the longest row), rounded up to a multiple of
         * {@code multiple}.
         */
        public static Host pad(List<PackedRow> rows, int padTo, int padId, int multiple) {
            int t = padTo;
            for (PackedRow r : rows) {
                t = Math.max(t, r.length());
            }
            t = (t + multiple - 1) / multiple * multiple;
            int b = rows.size();
            long[] ids = new long[b * t];
            long[] lab = new long[b * t];
            long[] tgt = new long[b * t];
            long[] pos = new long[b * t];
            long[] seg = new long[b * t];
            long real = 0;
            for (int i = 0; i < b; i++) {
                PackedRow r = rows.get(i);
                for (int j = 0; j < t; j++) {
                    int k = i * t + j;
                    boolean inRow = j < r.length();
                    ids[k] = inRow ? r.inputIds()[j] : padId;
                    lab[k] = inRow ? r.labels()[j] : -100;
                    tgt[k] = j + 1 < r.length() ? r.labels()[j + 1] : -100;
                    pos[k] = inRow ? r.positionIds()[j] : 0;
                    seg[k] = inRow ? r.segmentIds()[j] : 0;
                }
                real += r.length();
            }
            return new Host(b, t, ids, lab, tgt, pos, seg, real);
        }
    }

    /** Pads rows to {@code padTo} (at least the longest row) and builds the tensors. */
    public static MicroBatch of(List<PackedRow> rows, int padTo, int padId) {
        return of(rows, padTo, padId, 1);
    }

    /**
     * As {@link #of(List, int, int)}, with the padded length rounded up to a multiple of {@code multiple}
     * (sequence parallelism splits each row evenly over its ranks); padding has label -100 and counts for nothing.
     */
    public static MicroBatch of(List<PackedRow> rows, int padTo, int padId, int multiple) {
        return of(rows, padTo, padId, multiple, Device.cpu("host"));
    }

    /**
     * As {@link #of(List, int, int, int)}, with the tensors on {@code device}: built on the host and copied there
     * (each host tensor released once copied).
     */
    public static MicroBatch of(List<PackedRow> rows, int padTo, int padId, int multiple, Device device) {
        Host h = Host.pad(rows, padTo, padId, multiple);
        int b = h.rows();
        int t = h.length();
        return new MicroBatch(placed(h.ids(), b, t, device), placed(h.labels(), b, t, device),
                placed(h.targets(), b, t, device), placed(h.positions(), b, t, device),
                placed(h.segments(), b, t, device), null, null, null, labelTokens(rows), h.realTokens());
    }

    /**
     * A shard of a micro-batch (context parallel): [B, Tq] token arrays of this rank's positions, with the global
     * index of each query [Tq], the global index of each key its attention sees, in the gathered order [Tk], and
     * those keys' segments [B, Tk].
     */
    public static MicroBatch shard(int b, int tq, long[] ids, long[] labels, long[] targets, long[] positions,
                                   long[] segments, long[] queryIndex, long[] keyIndex, long[] keySegments,
                                   long labelTokens, long realTokens, Device device) {
        int tk = keyIndex.length;
        return new MicroBatch(placed(ids, b, tq, device), placed(labels, b, tq, device),
                placed(targets, b, tq, device), placed(positions, b, tq, device), placed(segments, b, tq, device),
                placed(queryIndex, 1, tq, device), placed(keyIndex, 1, tk, device),
                placed(keySegments, b, tk, device), labelTokens, realTokens);
    }

    private static Tensor placed(long[] values, int b, int t, Device device) {
        Tensor host = Tensors.longs(values, b, t);
        if (device.isCpu()) {
            return host;
        }
        try (host) {
            return Tensors.to(host, device);
        }
    }

    /** [B, T] token ids. */
    public Tensor inputIds() {
        return inputIds;
    }

    /** [B, T] labels (not shifted: {@code labels[:, 1:]} are the targets of {@code logits[:, :-1]}). */
    public Tensor labels() {
        return labels;
    }

    /**
     * [B, T] next-token targets: the target of the logits at each position, shifted on the whole row before any
     * cut (-100 where nothing is predicted).
     */
    public Tensor targets() {
        return targets;
    }

    /** [1, T] global index of each token in its row, or null for a whole micro-batch (the identity). */
    public Tensor queryIndex() {
        return queryIndex;
    }

    /** [1, Tk] global index of each key the attention sees, or null for a whole micro-batch (the row itself). */
    public Tensor keyIndex() {
        return keyIndex;
    }

    /** [B, Tk] segments of those keys, or null for a whole micro-batch ({@link #segmentIds()}). */
    public Tensor keySegments() {
        return keySegments;
    }

    /** [B, T] positions. */
    public Tensor positionIds() {
        return positionIds;
    }

    /** [B, T] segment ids (0 = padding). */
    public Tensor segmentIds() {
        return segmentIds;
    }

    /** Tokens that count in the loss (of this shard, for a shard). */
    public long labelTokens() {
        return labelTokens;
    }

    /** Non-padding tokens. */
    public long realTokens() {
        return realTokens;
    }

    @Override
    public void close() {
        inputIds.close();
        labels.close();
        targets.close();
        for (Tensor t : new Tensor[] {queryIndex, keyIndex, keySegments}) {
            if (t != null) {
                t.close();
            }
        }
        positionIds.close();
        segmentIds.close();
    }
}
