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

/**
 * The cut itself, with no ranks: what each cp rank holds, its mask (assembled from the chunks its attention runs
 * in), its targets and its label-token count.
 */
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

    /**
     * The shard's [B, Tq, Tk] visibility (keys in the gathered order) assembled from the blocks its attention runs
     * in: each block's mask placed at its queries and keys; the keys a block drops are hidden.
     */
    private static boolean[] visibility(ForwardContext ctx, int rows, int tq, int tk) {
        List<ForwardContext.QueryBlock> blocks = ctx.queryBlocks();
        assertThat(blocks).as("a head-tail shard attends chunk by chunk").hasSize(2);
        boolean[] out = new boolean[rows * tq * tk];
        for (int i = 0; i < blocks.size(); i++) {
            ForwardContext.QueryBlock b = blocks.get(i);
            long[] keys = longs(b.keys());
            int len = (int) b.length();
            boolean[] m = bools(ctx.forBlock(i).mask(0));
            assertThat(m).hasSize(rows * len * keys.length);
            for (int row = 0; row < rows; row++) {
                for (int qi = 0; qi < len; qi++) {
                    for (int kj = 0; kj < keys.length; kj++) {
                        out[(row * tq + (int) b.start() + qi) * tk + (int) keys[kj]] = m[(row * len + qi) * keys.length
                                + kj];
                    }
                }
            }
        }
        return out;
    }

    /**
     * Each chunk attends over only the keys not after its last query: rank r's chunks r and 2cp-1-r see r+1 and
     * 2cp-r chunks of keys, so every rank computes (2cp+1)/(4cp) of the dense scores (0.625 at cp 2), adjacent
     * chunks of the middle ranks included.
     */
    @Test
    void eachChunkAttendsOnlyTheKeysUpToItsEnd() {
        ModelConfig config = StrategyTestKit.model(false);
        for (int cp : new int[] {2, 3, 4}) {
            int t = 2 * cp * 6;
            int[] ids = new int[t];
            int[] pos = new int[t];
            int[] seg = new int[t];
            for (int i = 0; i < t; i++) {
                ids[i] = 1 + i;
                pos[i] = i;
                seg[i] = 1;
            }
            List<PackedRow> rows = List.of(new PackedRow(ids, ids.clone(), pos, seg));
            for (int r = 0; r < cp; r++) {
                try (MicroBatch mb = new HeadTailSharder(cp, r).shard(rows, 0, 0, 1, Device.cpu("test"));
                     ForwardContext ctx = new ForwardContext(mb.positionIds(), mb.segmentIds(), mb.queryIndex(),
                             mb.keyIndex(), mb.keySegments(), config, ScalarType.Float)) {
                    List<ForwardContext.QueryBlock> blocks = ctx.queryBlocks();
                    assertThat(blocks).hasSize(2);
                    assertThat(blocks.get(0).start()).isZero();
                    assertThat(blocks.get(0).length()).isEqualTo(6);
                    assertThat(blocks.get(1).start()).isEqualTo(6);
                    assertThat(blocks.get(1).length()).isEqualTo(6);
                    assertThat(blocks.get(0).keys().numel()).as("cp %d rank %d chunk %d", cp, r, r)
                            .isEqualTo(6L * (r + 1));
                    assertThat(blocks.get(1).keys().numel()).as("cp %d rank %d chunk %d", cp, r, 2 * cp - 1 - r)
                            .isEqualTo(6L * (2 * cp - r));
                    long scores = 6 * (blocks.get(0).keys().numel() + blocks.get(1).keys().numel());
                    assertThat((double) scores / ((t / cp) * t)).isEqualTo((2.0 * cp + 1) / (4.0 * cp));
                }
            }
        }
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
                        boolean[] mine = visibility(ctx, rows.size(), q.length, t);
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

    /**
     * The fixture the issue names: one row of 48 tokens (cp 2: chunks of 12) whose second document runs over
     * [9, 38), from chunk 0 (rank 0) through chunks 1 and 2 (rank 1) into chunk 3 (rank 0 again), between two short
     * ones. Every query of it sees exactly the keys of its own document up to itself, on both ranks.
     */
    @Test
    void aDocumentStraddlingChunkBoundariesOnBothRanksSeesOnlyItselfCausally() {
        int[] seg = new int[48];
        int[] pos = new int[48];
        int[] ids = new int[48];
        for (int i = 0; i < 48; i++) {
            seg[i] = i < 9 ? 1 : i < 38 ? 2 : 3;
            pos[i] = i < 9 ? i : i < 38 ? i - 9 : i - 38;
            ids[i] = 10 + i;
        }
        List<PackedRow> rows = List.of(new PackedRow(ids, ids.clone(), pos, seg));
        ModelConfig config = StrategyTestKit.model(false);
        long[] keys = HeadTailSharder.keyIndex(2, 48);
        for (int r = 0; r < 2; r++) {
            long[] q = HeadTailSharder.queryIndex(2, r, 48);
            try (MicroBatch mb = new HeadTailSharder(2, r).shard(rows, 0, 0, 1, Device.cpu("test"));
                 ForwardContext ctx = new ForwardContext(mb.positionIds(), mb.segmentIds(), mb.queryIndex(),
                         mb.keyIndex(), mb.keySegments(), config, ScalarType.Float)) {
                boolean[] m = visibility(ctx, 1, q.length, 48);
                long[] p = longs(mb.positionIds());
                for (int i = 0; i < q.length; i++) {
                    int g = (int) q[i];
                    assertThat(p[i]).as("RoPE position of token %d", g).isEqualTo(pos[g]);
                    for (int j = 0; j < 48; j++) {
                        int k = (int) keys[j];
                        assertThat(m[i * 48 + j]).as("rank %d query %d key %d", r, g, k)
                                .isEqualTo(seg[k] == seg[g] && k <= g);
                    }
                }
            }
        }
        assertThat(HeadTailSharder.queryIndex(2, 0, 48)).contains(9L, 11L, 36L, 37L);
        assertThat(HeadTailSharder.queryIndex(2, 1, 48)).contains(12L, 35L);
    }

    /** heads_k_stride must divide the key/value heads per tensor-parallel rank: an error naming both keys. */
    @Test
    void headsKStrideMustDivideTheKeyValueHeads() {
        List<String> errors = new ai.axolotl.distributed.launch.ThreadLauncher(1, java.time.Duration.ofSeconds(60),
                ai.axolotl.sharding.Strategies::create).run(g -> {
            try (ai.axolotl.model.DecoderModel m = ai.axolotl.model.DecoderModel.initialise(
                    StrategyTestKit.model(false), 1)) {
                new ContextParallelism(g.world(), 2).parallelize(m); // 2 kv heads: a stride of 2 divides them
                try {
                    new ContextParallelism(g.world(), 3).parallelize(m);
                    return "accepted";
                } catch (ai.axolotl.config.ConfigException e) {
                    return e.getMessage();
                }
            }
        });
        assertThat(errors.get(0)).contains("heads_k_stride (3) must divide", "num_key_value_heads (2)",
                "tensor_parallel_size (1)");
    }
}
