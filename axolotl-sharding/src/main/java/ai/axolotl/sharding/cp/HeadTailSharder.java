package ai.axolotl.sharding.cp;

import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.runtime.Device;

import java.util.List;

/**
 * Cuts each row of a micro-batch over {@code cp} ranks with head-tail load balancing: the padded row (a multiple of
 * 2 x cp chunks) is split into 2 x cp chunks of c tokens, and rank r holds chunks r and 2cp-1-r, so under a causal
 * mask every rank attends over the same number of (query, key) pairs. Everything comes from the whole row, on the
 * host, with no communication: token ids, positions (RoPE sees the row's positions), segments (documents), and the
 * next-token targets, shifted on the whole row before the cut. The keys a rank's attention sees are every rank's
 * tokens in the gathered (rank-major) order, {@link #keyIndex}. No document length has to divide by anything.
 */
public final class HeadTailSharder {
    private final int cp;
    private final int rank;

    /**
     * @param cp the context-parallel degree
     * @param rank this rank's index in its cp group
     */
    public HeadTailSharder(int cp, int rank) {
        if (cp < 1 || rank < 0 || rank >= cp) {
            throw new IllegalArgumentException("cp rank " + rank + " of " + cp);
        }
        this.cp = cp;
        this.rank = rank;
    }

    /** The row length padded rows must be a multiple of: 2 x cp chunks of a multiple of {@code multiple}. */
    public int lengthMultiple(int multiple) {
        return 2 * cp * multiple;
    }

    /** The global index of each of rank {@code r}'s tokens in a row of {@code length}: chunks r and 2cp-1-r. */
    public static long[] queryIndex(int cp, int r, int length) {
        int c = length / (2 * cp);
        long[] idx = new long[2 * c];
        for (int i = 0; i < c; i++) {
            idx[i] = (long) r * c + i;
            idx[c + i] = (long) (2 * cp - 1 - r) * c + i;
        }
        return idx;
    }

    /** The global index of each gathered key: every rank's tokens, rank by rank (what an all-gather yields). */
    public static long[] keyIndex(int cp, int length) {
        long[] idx = new long[length];
        int shard = length / cp;
        for (int s = 0; s < cp; s++) {
            System.arraycopy(queryIndex(cp, s, length), 0, idx, s * shard, shard);
        }
        return idx;
    }

    /** This rank's shard of {@code rows} padded to at least {@code padTo}, with its attention tables. */
    public MicroBatch shard(List<PackedRow> rows, int padTo, int padId, int multiple, Device device) {
        MicroBatch.Host h = MicroBatch.Host.pad(rows, padTo, padId, lengthMultiple(multiple));
        int b = h.rows();
        int t = h.length();
        long[] q = queryIndex(cp, rank, t);
        long[] k = keyIndex(cp, t);
        int tq = q.length;
        long[] ids = new long[b * tq];
        long[] lab = new long[b * tq];
        long[] tgt = new long[b * tq];
        long[] pos = new long[b * tq];
        long[] seg = new long[b * tq];
        long[] keySeg = new long[b * t];
        long labelTokens = 0;
        long real = 0;
        for (int row = 0; row < b; row++) {
            for (int i = 0; i < tq; i++) {
                int from = row * t + (int) q[i];
                int to = row * tq + i;
                ids[to] = h.ids()[from];
                lab[to] = h.labels()[from];
                tgt[to] = h.targets()[from];
                pos[to] = h.positions()[from];
                seg[to] = h.segments()[from];
                labelTokens += tgt[to] != -100 ? 1 : 0;
                real += seg[to] != 0 ? 1 : 0;
            }
            for (int j = 0; j < t; j++) {
                keySeg[row * t + j] = h.segments()[row * t + (int) k[j]];
            }
        }
        return MicroBatch.shard(b, tq, ids, lab, tgt, pos, seg, q, k, keySeg, labelTokens, real, device);
    }

    /** The label tokens of this rank's shard of {@code rows} (they add up to the whole rows' over the cp ranks). */
    public long labelTokens(List<PackedRow> rows, int padTo, int multiple) {
        MicroBatch.Host h = MicroBatch.Host.pad(rows, padTo, 0, lengthMultiple(multiple));
        long[] q = queryIndex(cp, rank, h.length());
        long n = 0;
        for (int row = 0; row < h.rows(); row++) {
            for (long i : q) {
                n += h.targets()[row * h.length() + (int) i] != -100 ? 1 : 0;
            }
        }
        return n;
    }
}
