package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Per-micro-batch state shared by every unit's forward: the attention masks that keep tokens inside their own
 * packed sample (one per distinct key window of the model's layers: causal, or causal within a sliding window)
 * and the rotary tables for each token's position (one per distinct RoPE spec of its layers).
 *
 * <p>Made once per micro-batch from position and segment ids; its tensors are released by {@link #close()}.
 */
public final class ForwardContext implements AutoCloseable {
    private final ModelConfig config;
    private final Map<Integer, Tensor> masks = new LinkedHashMap<>();
    private final Map<Rope, Tensor[]> tables = new LinkedHashMap<>();
    private final ScalarType computeType;
    private final List<GraphCut> cuts;
    private final List<QueryBlock> blocks = new ArrayList<>();
    private final List<Map<Integer, Tensor>> blockMasks = new ArrayList<>(); // per block, by key window
    private final ForwardContext parent;
    private Long dropoutSeed;

    /**
     * A run of a context-parallel shard's queries with consecutive global indices (one chunk of the row) and the
     * keys it may see at all: those not after its last query, as indices into the gathered keys. Attending block by
     * block over only those keys ({@link #forBlock}) computes what attending over every key with the whole mask
     * computes, without the scores of keys that are masked for every query of the block.
     *
     * @param start the block's first query in the shard
     * @param length its queries
     * @param keys [n] int64 indices of its keys in the gathered order
     */
    public record QueryBlock(long start, long length, Tensor keys) {}

    /** A view of {@code parent} whose masks are one block's (what {@link #forBlock} returns). */
    private ForwardContext(ForwardContext parent, Map<Integer, Tensor> blockMasks) {
        this.config = parent.config;
        this.computeType = parent.computeType;
        this.cuts = parent.cuts;
        this.parent = parent;
        this.masks.putAll(blockMasks);
        this.tables.putAll(parent.tables);
        this.dropoutSeed = parent.dropoutSeed;
    }

    /**
     * @param positionIds [B, T] long positions, restarting at 0 for each packed sample
     * @param segmentIds [B, T] long sample ids; tokens attend only within their own segment
     * @param config the model's shape
     * @param computeType the element type activations are computed in
     */
    public ForwardContext(Tensor positionIds, Tensor segmentIds, ModelConfig config, ScalarType computeType) {
        this(positionIds, segmentIds, null, null, null, config, computeType);
    }

    /**
     * A context whose queries are a shard of the row (context parallel): the masks are [B, 1, Tq, Tk], key j
     * visible to query i when both are in the same segment and {@code keyIndex[j] <= queryIndex[i]} (and within
     * the window): the one-process mask restricted to the shard's queries, its keys in the gathered order.
     *
     * @param queryIndex [1, Tq] global index of each query in its row; null: the identity (a whole row)
     * @param keyIndex [1, Tk] global index of each key; null: the identity
     * @param keySegments [B, Tk] the keys' segments; null: {@code segmentIds}
     */
    public ForwardContext(Tensor positionIds, Tensor segmentIds, Tensor queryIndex, Tensor keyIndex,
                          Tensor keySegments, ModelConfig config, ScalarType computeType) {
        this.config = config;
        this.computeType = computeType;
        this.cuts = new ArrayList<>();
        this.parent = null;
        if (queryIndex != null && keyIndex != null) {
            findBlocks(queryIndex, keyIndex);
        }
        for (int layer = 0; layer < config.numHiddenLayers(); layer++) {
            int window = config.window(layer);
            for (int b = 0; b < blocks.size(); b++) {
                QueryBlock qb = blocks.get(b);
                blockMasks.get(b).computeIfAbsent(window, w -> {
                    try (Tensor qs = segmentIds.narrow(1, qb.start(), qb.length());
                         Tensor ks = (keySegments == null ? segmentIds : keySegments).index_select(1, qb.keys());
                         Tensor qi = queryIndex.narrow(1, qb.start(), qb.length());
                         Tensor ki = keyIndex.index_select(1, qb.keys());
                         Tensor visible = mask(qs, ks, qi, ki, w)) {
                        return additive(visible, computeType);
                    }
                });
            }
            if (blocks.isEmpty() && !masks.containsKey(window)) {
                try (Tensor visible = queryIndex == null ? mask(segmentIds, window)
                        : mask(segmentIds, keySegments, queryIndex, keyIndex, window)) {
                    masks.put(window, additive(visible, computeType));
                }
            }
            Rope rope = config.rope(layer);
            if (!tables.containsKey(rope)) {
                tables.put(rope, RotaryEmbedding.cosSin(positionIds, config.headDim(), rope, computeType));
            }
        }
    }

    /**
     * Splits the shard's queries into runs of consecutive global indices of at most half its queries (the
     * head-tail sharder's two chunks, which are adjacent on the middle ranks) and gives each the gathered keys not
     * after its last query; none when no run can drop a key (nothing to trim).
     */
    private void findBlocks(Tensor queryIndex, Tensor keyIndex) {
        long[] q = Tensors.toLongArray(queryIndex);
        long[] k = Tensors.toLongArray(keyIndex);
        List<long[]> runs = new ArrayList<>();
        int most = (q.length + 1) / 2; // a head-tail shard is two chunks, adjacent on the middle ranks
        int start = 0;
        for (int i = 1; i <= q.length; i++) {
            if (i == q.length || q[i] != q[i - 1] + 1 || i - start == most) {
                runs.add(new long[] {start, i - start, q[i - 1]});
                start = i;
            }
        }
        List<long[]> selections = new ArrayList<>();
        boolean trims = false;
        for (long[] run : runs) {
            long[] sel = new long[k.length];
            int n = 0;
            for (int j = 0; j < k.length; j++) {
                if (k[j] <= run[2]) {
                    sel[n++] = j;
                }
            }
            sel = Arrays.copyOf(sel, n);
            trims |= sel.length < k.length;
            selections.add(sel);
        }
        if (!trims) {
            return;
        }
        for (int b = 0; b < runs.size(); b++) {
            long[] sel = selections.get(b);
            Tensor keys;
            try (Tensor host = Tensors.longs(sel, sel.length); org.bytedeco.pytorch.Device d = queryIndex.device()) {
                keys = host.to(d, ScalarType.Long);
            }
            blocks.add(new QueryBlock(runs.get(b)[0], runs.get(b)[1], keys));
            blockMasks.add(new LinkedHashMap<>());
        }
    }

    /**
     * The additive form of a boolean mask in the compute dtype: 0 where visible, -inf elsewhere. SDPA turns a
     * boolean mask into exactly this on every call, and autograd then saves each layer's own copy for backward
     * (measured: 8 layers at 2,048 tokens held 127 MiB more after the forward, 16 MiB per layer); given this
     * tensor, every layer saves a reference to the one copy.
     */
    static Tensor additive(Tensor visible, ScalarType computeType) {
        try (Tensor zeros = torch.zeros(visible.sizes(), Tensors.optionsOn(computeType, visible));
             Tensor hidden = visible.logical_not();
             Scalar minusInf = new Scalar(Double.NEGATIVE_INFINITY)) {
            return zeros.masked_fill(hidden, minusInf);
        }
    }

    /**
     * [B, 1, T, T]: key j is visible to query i when both are in the same segment, j <= i, and, with a window
     * w > 0, {@code i - w < j} (transformers' sliding-window rule: a query sees itself and the w - 1 keys before).
     */
    static Tensor mask(Tensor segmentIds, int window) {
        long t = segmentIds.size(1);
        try (Tensor ones = torch.ones(new long[] {t, t}, Tensors.optionsOn(ScalarType.Bool, segmentIds));
             Tensor same = segmentIds.unsqueeze(2).eq(segmentIds.unsqueeze(1));
             Tensor causal = torch.tril(ones)) {
            if (window <= 0) {
                try (Tensor m = same.logical_and(causal)) {
                    return m.unsqueeze(1);
                }
            }
            try (Tensor tooFar = torch.tril(ones, -window);
                 Tensor near = tooFar.logical_not();
                 Tensor band = causal.logical_and(near);
                 Tensor m = same.logical_and(band)) {
                return m.unsqueeze(1);
            }
        }
    }

    /**
     * [B, 1, Tq, Tk] for queries and keys given by their global indices: key j is visible to query i when they
     * share a segment, {@code kIdx[j] <= qIdx[i]} and, with a window w > 0, {@code qIdx[i] - w < kIdx[j]}.
     */
    static Tensor mask(Tensor querySegments, Tensor keySegments, Tensor queryIndex, Tensor keyIndex, int window) {
        try (Tensor qs = querySegments.unsqueeze(2);
             Tensor ks = keySegments.unsqueeze(1);
             Tensor same = qs.eq(ks);
             Tensor qi = queryIndex.reshape(-1, 1);
             Tensor ki = keyIndex.reshape(1, -1);
             Tensor causal = ki.le(qi)) {
            if (window <= 0) {
                try (Tensor m = same.logical_and(causal)) {
                    return m.unsqueeze(1);
                }
            }
            try (Scalar w = new Scalar((long) window);
                 Tensor start = qi.sub(w);
                 Tensor near = ki.gt(start);
                 Tensor band = causal.logical_and(near);
                 Tensor m = same.logical_and(band)) {
                return m.unsqueeze(1);
            }
        }
    }

    /**
     * Turns dropout on for this micro-batch: each dropout site draws its mask from a generator seeded by this
     * value and the site, so a forward recomputed under gradient checkpointing draws the same masks. Without it
     * (evaluation) nothing is dropped.
     */
    public ForwardContext withDropout(long seed) {
        if (parent != null) {
            throw new IllegalStateException("a block's context takes the micro-batch's dropout seed");
        }
        this.dropoutSeed = seed;
        return this;
    }

    /** The micro-batch's dropout seed, or null when dropout is off (evaluation). */
    public Long dropoutSeed() {
        return dropoutSeed;
    }

    /**
     * [B, 1, Tq, Tk] additive mask of layer {@code layer} in the compute dtype: 0 where a query may attend to a key,
     * -inf elsewhere (every query sees at least itself, so no row is all -inf).
     */
    public Tensor mask(int layer) {
        if (!blocks.isEmpty()) {
            throw new IllegalStateException("this context attends block by block: use queryBlocks() and forBlock()");
        }
        return masks.get(config.window(layer));
    }

    /**
     * The blocks a context-parallel shard's attention runs in (each query chunk over only the keys it may see),
     * empty for a whole row or when no chunk can drop a key.
     */
    public List<QueryBlock> queryBlocks() {
        return Collections.unmodifiableList(blocks);
    }

    /**
     * The context block {@code i}'s queries attend in: this one, with {@link #mask} the block's [B, 1, Tq_i, Tk_i]
     * (the one-process mask restricted to the block's queries and keys). It records cuts here and needs no close.
     */
    public ForwardContext forBlock(int i) {
        return new ForwardContext(this, blockMasks.get(i));
    }

    /** [B, 1, T, head_dim] cosines of layer {@code layer}'s rotary angles. */
    public Tensor cos(int layer) {
        return tables.get(config.rope(layer))[0];
    }

    /** [B, 1, T, head_dim] sines of layer {@code layer}'s rotary angles. */
    public Tensor sin(int layer) {
        return tables.get(config.rope(layer))[1];
    }

    /** The factor attention scores are scaled by. */
    public double attentionScale() {
        return config.attentionScale();
    }

    /** Element type of activations. */
    public ScalarType computeType() {
        return computeType;
    }

    /**
     * Makes {@code result} (a collective's result over {@code source}) the leaf the rest of the forward uses and,
     * when autograd records and {@code source} requires grad, records the {@link GraphCut} that carries the
     * gradient back through {@code conjugate}. The caller owns the returned handle; the cut holds its own.
     */
    public Tensor cut(Tensor source, Tensor result, UnaryOperator<Tensor> conjugate) {
        if (GradMode.is_enabled() && source.requires_grad()) {
            result.requires_grad_(true);
            recordCut(new GraphCut(new Tensor(source), new Tensor(result), conjugate));
        }
        return result;
    }

    /** Records a cut made during the running unit's forward (called by a {@link ModelParallelism}). */
    public void recordCut(GraphCut cut) {
        cuts.add(cut);
    }

    /** The cuts recorded since the last call, in the order they were made; the caller owns their tensors. */
    public List<GraphCut> takeCuts() {
        List<GraphCut> taken = List.copyOf(cuts);
        cuts.clear();
        return taken;
    }

    @Override
    public void close() {
        if (parent != null) {
            return; // a block's view owns nothing
        }
        for (QueryBlock b : blocks) {
            b.keys().close();
        }
        for (Map<Integer, Tensor> m : blockMasks) {
            m.values().forEach(Tensor::close);
        }
        for (GraphCut c : takeCuts()) {
            c.source().close();
            c.leaf().close();
        }
        masks.values().forEach(Tensor::close);
        for (Tensor[] t : tables.values()) {
            t[0].close();
            t[1].close();
        }
    }
}
