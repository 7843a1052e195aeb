package ai.axolotl.data;

import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;

import java.util.List;

/**
 * A micro-batch as libtorch tensors, rows padded to one length. Padding has its own segment (0), label -100 and
 * position 0, so it neither attends to nor is attended by real tokens and never counts in the loss.
 */
public final class MicroBatch implements AutoCloseable {
    private final Tensor inputIds;
    private final Tensor labels;
    private final Tensor positionIds;
    private final Tensor segmentIds;
    private final long labelTokens;
    private final long realTokens;

    private MicroBatch(Tensor inputIds, Tensor labels, Tensor positionIds, Tensor segmentIds, long labelTokens,
                       long realTokens) {
        this.inputIds = inputIds;
        this.labels = labels;
        this.positionIds = positionIds;
        this.segmentIds = segmentIds;
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
        int t = padTo;
        for (PackedRow r : rows) {
            t = Math.max(t, r.length());
        }
        t = (t + multiple - 1) / multiple * multiple;
        int b = rows.size();
        long[] ids = new long[b * t];
        long[] lab = new long[b * t];
        long[] pos = new long[b * t];
        long[] seg = new long[b * t];
        long real = 0;
        for (int i = 0; i < b; i++) {
            PackedRow r = rows.get(i);
            for (int j = 0; j < t; j++) {
                int k = i * t + j;
                if (j < r.length()) {
                    ids[k] = r.inputIds()[j];
                    lab[k] = r.labels()[j];
                    pos[k] = r.positionIds()[j];
                    seg[k] = r.segmentIds()[j];
                } else {
                    ids[k] = padId;
                    lab[k] = -100;
                    pos[k] = 0;
                    seg[k] = 0;
                }
            }
            real += r.length();
        }
        return new MicroBatch(placed(ids, b, t, device), placed(lab, b, t, device), placed(pos, b, t, device),
                placed(seg, b, t, device), labelTokens(rows), real);
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

    /** [B, T] labels. */
    public Tensor labels() {
        return labels;
    }

    /** [B, T] positions. */
    public Tensor positionIds() {
        return positionIds;
    }

    /** [B, T] segment ids (0 = padding). */
    public Tensor segmentIds() {
        return segmentIds;
    }

    /** Tokens that count in the loss. */
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
        positionIds.close();
        segmentIds.close();
    }
}
