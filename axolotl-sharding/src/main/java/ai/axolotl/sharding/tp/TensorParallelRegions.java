package ai.axolotl.sharding.tp;

import ai.axolotl.distributed.Collectives;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.GraphCut;
import ai.axolotl.model.ModelParallelism;
import org.bytedeco.pytorch.Tensor;


/**
 * The collectives at the edges of tensor-parallel regions, over the tensor-parallel group, each with its conjugate
 * for backward carried by a {@link GraphCut}:
 *
 * <table>
 *   <caption>forward and backward collective per edge</caption>
 *   <tr><th></th><th>sequence parallel (default)</th><th>without</th></tr>
 *   <tr><td>enter (before column-parallel)</td><td>all-gather along the sequence / reduce-scatter</td>
 *       <td>identity / all-reduce</td></tr>
 *   <tr><td>exit (after row-parallel, embedding)</td><td>reduce-scatter along the sequence / all-gather</td>
 *       <td>all-reduce / identity</td></tr>
 * </table>
 *
 * <p>Why cuts and not tensor gradient hooks: a hook that starts a collective and then a nested backward would run
 * inside libtorch's autograd engine thread, re-entrantly, for every region; cutting the graph at the collective
 * and letting the runner drive the pieces in order keeps every collective on the training thread, in the same
 * order on every rank, and needs nothing beyond {@code torch::autograd::backward}.
 */
public final class TensorParallelRegions implements ModelParallelism {
    /** Activations are [B, T, hidden]: the sequence is dimension 1. */
    static final int SEQUENCE_DIM = 1;
    private final Collectives group;
    private final boolean sequenceParallel;
    private final ActivationTraffic traffic = new ActivationTraffic();

    /**
     * @param group the tensor-parallel group
     * @param sequenceParallel split activations between regions along the sequence
     */
    public TensorParallelRegions(Collectives group, boolean sequenceParallel) {
        this.group = group;
        this.sequenceParallel = sequenceParallel;
    }

    @Override
    public int size() {
        return group.size();
    }

    @Override
    public int rank() {
        return group.rank();
    }

    @Override
    public Tensor gatherWhole(Tensor slice, int dim) {
        return group.allGatherAlong(slice, dim);
    }

    /** What the regions have sent so far. */
    public ActivationTraffic traffic() {
        return traffic;
    }

    @Override
    public int sequenceMultiple() {
        return sequenceParallel ? group.size() : 1;
    }

    @Override
    public Tensor enterRegion(Tensor x, ForwardContext ctx) {
        if (sequenceParallel) {
            return ctx.cut(x, allGather(x), this::reduceScatter);
        }
        return ctx.cut(x, x.detach(), this::allReduced);
    }

    @Override
    public Tensor exitRegion(Tensor partial, ForwardContext ctx) {
        if (sequenceParallel) {
            return ctx.cut(partial, reduceScatter(partial), this::allGather);
        }
        return ctx.cut(partial, allReduced(partial), Tensor::new);
    }

    @Override
    public Tensor lossSum(Tensor logits, Tensor labels) {
        return VocabParallelLoss.sum(logits, labels, group);
    }

    /** A chunk's vocab-parallel loss over aligned logits and targets, without gathering the logits. */
    @Override
    public Tensor lossSumAligned(Tensor logits, Tensor targets) {
        return VocabParallelLoss.alignedSum(logits, targets, group);
    }

    /** All-gather along the sequence of a detached copy (no autograd history). */
    private Tensor allGather(Tensor x) {
        try (Tensor d = x.detach()) {
            Tensor full = group.allGatherAlong(d, SEQUENCE_DIM);
            traffic.add(ActivationTraffic.Kind.ALL_GATHER, full.numel());
            return full;
        }
    }

    private Tensor reduceScatter(Tensor x) {
        try (Tensor d = x.detach()) {
            traffic.add(ActivationTraffic.Kind.REDUCE_SCATTER, d.numel());
            return group.reduceScatterAlong(d, SEQUENCE_DIM);
        }
    }

    private Tensor allReduced(Tensor t) {
        Tensor sum;
        try (Tensor d = t.detach()) {
            sum = d.clone();
        }
        traffic.add(ActivationTraffic.Kind.ALL_REDUCE, sum.numel());
        group.allReduceSum(sum).await();
        return sum;
    }
}
