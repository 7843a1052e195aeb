package ai.axolotl.sharding.cp;

import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The cut itself, with no ranks: what each cp rank holds, its mask, its targets and its label-token count. */
class HeadTailSharderTest {
    /** Packed rows of a few documents of random lengths (none a multiple of anything), some labels -100. */
    private static List<PackedRow> rows(Random rnd, int count, int maxLen) {
        List<PackedRow> rows = new ArrayList<>();
        for (int r = 0; r < count; r++) {
            int len = 5 + rnd.nextInt(maxLen - 5);
            int[] ids = new int[len];
            int[] labels = new int[len];
            int[] pos = new int[len];
            int[] seg = new int[len];
            int doc = 1;
            int p = 0;
            for (int i = 0; i < len; i++) {
                if (i > 0 && rnd.nextInt(7) == 0) {
                    doc++;
                    p = 0;
                }
                ids[i] = 1 + rnd.nextInt(200);
                labels[i] = rnd.nextInt(4) == 0 ? -100 : ids[i];
                pos[i] = p++;
                seg[i] = doc;
            }
            rows.add(new PackedRow(ids, labels, pos, seg));
        }
        return rows;
    }

    private static long[] longs(Tensor t) {
        float[] f = Tensors.toFloatArray(t);
        long[] out = new long[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = (long) f[i];
        }
        return out;
    }

    /** Visible entries of an additive mask (0 visible, -inf hidden). */
    private static boolean[] bools(Tensor t) {
        float[] f = Tensors.toFloatArray(t);
        boolean[] out = new boolean[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = f[i] == 0;
        }
        return out;
    }

    @Test
    void headTailChunksAreRanksRAnd2cpMinus1MinusR() {
        assertThat(HeadTailSharder.queryIndex(2, 0, 8)).containsExactly(0, 1, 6, 7);
        assertThat(HeadTailSharder.queryIndex(2, 1, 8)).containsExactly(2, 3, 4, 5);
        assertThat(HeadTailSharder.keyIndex(2, 8)).containsExactly(0, 1, 6, 7, 2, 3, 4, 5);
        assertThat(HeadTailSharder.queryIndex(1, 0, 4)).containsExactly(0, 1, 2, 3);
    }

    @Test
    void shardsPartitionEachRowAndKeepTheWholeRowsTargetsPositionsAndCounts() {
        Random rnd = new Random(5);
        for (int cp : new int[] {2, 3, 4}) {
            List<PackedRow> rows = rows(rnd, 3, 45);
            MicroBatch.Host whole = MicroBatch.Host.pad(rows, 0, 0, 2 * cp);
            int t = whole.length();
            long labelTokens = 0;
            boolean[] seen = new boolean[t];
            for (int r = 0; r < cp; r++) {
                HeadTailSharder s = new HeadTailSharder(cp, r);
                long[] q = HeadTailSharder.queryIndex(cp, r, t);
                try (MicroBatch mb = s.shard(rows, 0, 0, 1, Device.cpu("test"))) {
                    assertThat(mb.inputIds().size(1)).isEqualTo(t / cp);
                    long[] tgt = longs(mb.targets());
                    long[] pos = longs(mb.positionIds());
                    long[] ids = longs(mb.inputIds());
                    for (int b = 0; b < rows.size(); b++) {
                        for (int i = 0; i < q.length; i++) {
                            int g = (int) q[i];
                            PackedRow row = rows.get(b);
                            // targets shifted on the whole row: the pair (g, g + 1) survives the cut
                            long expected = g + 1 < row.length() ? row.labels()[g + 1] : -100;
                            assertThat(tgt[b * q.length + i]).as("cp %d rank %d row %d index %d", cp, r, b, g)
                                    .isEqualTo(expected);
                            assertThat(pos[b * q.length + i]).isEqualTo(g < row.length() ? row.positionIds()[g] : 0);
                            assertThat(ids[b * q.length + i]).isEqualTo(g < row.length() ? row.inputIds()[g] : 0);
                        }
                    }
                    labelTokens += mb.labelTokens();
                    assertThat(s.labelTokens(rows, 0, 1)).isEqualTo(mb.labelTokens());
                }
                for (long g : q) {
                    assertThat(seen[(int) g]).as("index %d held twice", g).isFalse();
                    seen[(int) g] = true;
                }
            }
            for (boolean b : seen) {
                assertThat(b).as("every index held").isTrue();
            }
            assertThat(labelTokens).as("cp %d: the shards' label tokens add up to the rows'", cp)
                    .isEqualTo(MicroBatch.labelTokens(rows));
            long[] keys = HeadTailSharder.keyIndex(cp, t);
            long[] sorted = keys.clone();
            Arrays.sort(sorted);
            for (int i = 0; i < t; i++) {
                assertThat(sorted[i]).as("keyIndex is a permutation").isEqualTo(i);
            }
        }
    }

    /** Each rank's mask is the one-process mask restricted to its queries, keys permuted; no row is empty. */
    @Test
    void eachRanksMaskIsTheOneProcessMaskRestrictedToItsQueries() {
        Random rnd = new Random(9);
        ModelConfig config = StrategyTestKit.model(false);
        for (int cp : new int[] {2, 4}) {
            List<PackedRow> rows = rows(rnd, 2, 40);
            // the one-process row padded to the same length the shards use
            try (MicroBatch one = MicroBatch.of(rows, 0, 0, 2 * cp);
                 ForwardContext ref = new ForwardContext(one.positionIds(), one.segmentIds(), config,
                         ScalarType.Float)) {
                int t = (int) one.inputIds().size(1);
                boolean[] full = bools(ref.mask(0));
                long[] keys = HeadTailSharder.keyIndex(cp, t);
                for (int r = 0; r < cp; r++) {
                    long[] q = HeadTailSharder.queryIndex(cp, r, t);
                    try (MicroBatch mb = new HeadTailSharder(cp, r).shard(rows, 0, 0, 1, Device.cpu("test"));
                         ForwardContext ctx = new ForwardContext(mb.positionIds(), mb.segmentIds(), mb.queryIndex(),
                                 mb.keyIndex(), mb.keySegments(), config, ScalarType.Float)) {
                        Tensor m = ctx.mask(0);
                        assertThat(new long[] {m.size(0), m.size(1), m.size(2), m.size(3)})
                                .containsExactly(rows.size(), 1, q.length, t);
                        boolean[] mine = bools(m);
                        for (int b = 0; b < rows.size(); b++) {
                            for (int i = 0; i < q.length; i++) {
                                int visible = 0;
                                for (int j = 0; j < t; j++) {
                                    boolean expected = full[(b * t + (int) q[i]) * t + (int) keys[j]];
                                    boolean actual = mine[(b * q.length + i) * t + j];
                                    assertThat(actual).as("cp %d rank %d row %d query %d key %d", cp, r, b, q[i],
                                            keys[j]).isEqualTo(expected);
                                    visible += actual ? 1 : 0;
                                    if (keys[j] == q[i]) {
                                        assertThat(actual).as("a query sees itself").isTrue();
                                    }
                                }
                                assertThat(visible).isPositive();
                            }
                        }
                    }
                }
            }
        }
    }
}
