package ai.axolotl.sharding.cp;

import ai.axolotl.distributed.Collectives;
import ai.axolotl.model.AttentionKernel;
import ai.axolotl.model.ForwardContext;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Attention of this rank's queries over the whole row's keys (the all-gather form of context parallel, as Llama 3
 * trains long context): the layer's key/value heads (never the repeated query-head copies) are concatenated and
 * all-gathered over the cp group along the sequence, and the wrapped kernel attends with the context's
 * [B, 1, Tq, Tk] mask, built from the global token indices and documents, so no query sees another document or a
 * later token. The gather is a {@link ai.axolotl.model.GraphCut}: in backward the gathered keys' and values'
 * gradient (every rank's queries' contributions) is reduce-scattered in fp32, each rank keeping its own tokens',
 * and backward continues from the local keys and values. Under activation checkpointing the recompute gathers again.
 * Each of the rank's query chunks attends over only the keys not after its last query
 * ({@link ForwardContext#queryBlocks()}): with head-tail chunks, rank r's two chunks see {@code (r + 1)} and
 * {@code (2cp - r)} chunks of keys, {@code (2cp + 1) / 4cp} of the dense scores on every rank (0.625 at cp 2).
 */
public final class GatheredKvAttention implements AttentionKernel {
    private static final int SEQUENCE_DIM = 2;
    private final Collectives cp;
    private final AttentionKernel inner;
    private final AtomicLong gathers = new AtomicLong();
    private final AtomicLong gatheredElements = new AtomicLong();
    private final AtomicLong reduceScatters = new AtomicLong();
    private final AtomicLong reducedElements = new AtomicLong();
    private final AtomicLong waitNanos = new AtomicLong();
    private final AtomicLong denseScores = new AtomicLong();
    private final AtomicLong attendedScores = new AtomicLong();

    /**
     * @param cp this rank's context-parallel group
     * @param inner the kernel that attends over the gathered keys and values (the model's own)
     */
    public GatheredKvAttention(Collectives cp, AttentionKernel inner) {
        this.cp = cp;
        this.inner = inner;
    }

    @Override
    public Tensor attend(Tensor q, Tensor k, Tensor v, ForwardContext ctx, int layer) {
        long kvHeads = k.size(1);
        try (TensorVector both = new TensorVector(k, v);
             Tensor kv = torch.cat(both, 1);
             Tensor all = ctx.cut(kv, gather(kv), this::reduceScatter);
             Tensor keys = all.narrow(1, 0, kvHeads);
             Tensor values = all.narrow(1, kvHeads, kvHeads)) {
            long tq = q.size(SEQUENCE_DIM);
            long tk = keys.size(SEQUENCE_DIM);
            denseScores.addAndGet(tq * tk);
            List<ForwardContext.QueryBlock> blocks = ctx.queryBlocks();
            if (blocks.isEmpty()) {
                attendedScores.addAndGet(tq * tk);
                return inner.attend(q, keys, values, ctx, layer);
            }
            // each query chunk over only the keys it may see: the keys after a chunk's last query are masked for
            // all of its queries, so their scores need not be computed (head-tail chunks keep the ranks balanced)
            Tensor[] outs = new Tensor[blocks.size()];
            try {
                for (int i = 0; i < outs.length; i++) {
                    ForwardContext.QueryBlock b = blocks.get(i);
                    long n = b.keys().numel();
                    attendedScores.addAndGet(b.length() * n);
                    try (Tensor qb = q.narrow(SEQUENCE_DIM, b.start(), b.length());
                         Tensor kb = n == tk ? new Tensor(keys) : keys.index_select(SEQUENCE_DIM, b.keys());
                         Tensor vb = n == tk ? new Tensor(values) : values.index_select(SEQUENCE_DIM, b.keys())) {
                        outs[i] = inner.attend(qb, kb, vb, ctx.forBlock(i), layer);
                    }
                }
                try (TensorVector parts = new TensorVector(outs)) {
                    return torch.cat(parts, SEQUENCE_DIM);
                }
            } finally {
                for (Tensor o : outs) {
                    if (o != null) {
                        o.close();
                    }
                }
            }
        }
    }

    private Tensor gather(Tensor kv) {
        try (Tensor d = kv.detach()) {
            long t0 = System.nanoTime();
            Tensor all = cp.allGatherAlong(d, SEQUENCE_DIM);
            waitNanos.addAndGet(System.nanoTime() - t0);
            gathers.incrementAndGet();
            gatheredElements.addAndGet(all.numel());
            return all;
        }
    }

    /** The local keys' and values' gradient: the gathered ones' summed over cp in fp32, this rank's block. */
    private Tensor reduceScatter(Tensor grad) {
        try (Tensor f = grad.to(ScalarType.Float)) {
            reduceScatters.incrementAndGet();
            reducedElements.addAndGet(f.numel());
            long t0 = System.nanoTime();
            Tensor mine = cp.reduceScatterAlong(f, SEQUENCE_DIM);
            waitNanos.addAndGet(System.nanoTime() - t0);
            if (grad.scalar_type().value == ScalarType.Float.value) {
                return mine;
            }
            try (mine) {
                return mine.to(grad.scalar_type());
            }
        }
    }

    /** All-gathers run so far (one per layer forward, recomputes included). */
    public long gathers() {
        return gathers.get();
    }

    /** Elements of the gathered key/value tensors so far. */
    public long gatheredElements() {
        return gatheredElements.get();
    }

    /** Reduce-scatters of key/value gradients run so far (one per layer backward). */
    public long reduceScatters() {
        return reduceScatters.get();
    }

    /**
     * Milliseconds this rank spent in its key/value collectives so far (blocking: the exposed communication,
     * including any wait for a slower peer to arrive).
     */
    public long collectiveMillis() {
        return waitNanos.get() / 1_000_000;
    }

    /**
     * Attention scores (query x key pairs, per head and row) this rank's forwards computed so far, recomputes
     * included: each query chunk against only the keys it may see.
     */
    public long attendedScores() {
        return attendedScores.get();
    }

    /** The scores the same forwards would have computed against every gathered key (the dense count). */
    public long denseScores() {
        return denseScores.get();
    }

    /** Elements of the gradients reduce-scattered so far (fp32). */
    public long reducedElements() {
        return reducedElements.get();
    }
}
