package ai.axolotl.sharding.tp;

import ai.axolotl.distributed.Collectives;
import ai.axolotl.model.CausalLmLoss;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * Next-token cross entropy over logits split by vocabulary across the tensor-parallel group, without gathering
 * them (Megatron's vocab-parallel cross entropy): per token, the maximum, the sum of exponentials and the target's
 * logit are each combined over the group, and the loss is {@code log(sum exp(l - max)) - (l_target - max)}.
 *
 * <p>Gradient: the combined sum and target logit are written as {@code local + (combined - local).detach()}, so
 * each rank's autograd sees only its own terms: the gradient reaching its logits is {@code softmax - onehot}
 * restricted to its slice, which is exactly its slice of the full gradient. The maximum is a constant shift.
 */
public final class VocabParallelLoss {
    private VocabParallelLoss() {}

    /**
     * @param logits [B, T, V / tp], this rank's vocabulary slice (rank r holds ids r * V/tp .. (r+1) * V/tp - 1)
     * @param labels [B, T] full labels, -100 ignored
     * @return the summed (not averaged) loss over label tokens, equal on every rank of the group
     */
    public static Tensor sum(Tensor logits, Tensor labels, Collectives group) {
        try (Tensor l = CausalLmLoss.predictions(logits); Tensor y = CausalLmLoss.targets(labels)) {
            return alignedSum(l, y, group);
        }
    }

    /**
     * The same over logits already aligned with their targets.
     *
     * @param l [N, V / tp], this rank's vocabulary slice of the logits at N positions
     * @param y [N] the full targets of those positions, -100 ignored
     */
    public static Tensor alignedSum(Tensor l, Tensor y, Collectives group) {
        long slice = l.size(1);
        long offset = group.rank() * slice;
        try (Tensor max = globalMax(l, group);
             Tensor maxCol = max.unsqueeze(1);
             Tensor shifted = l.sub(maxCol);
             Tensor exp = shifted.exp();
             Tensor sumLocal = exp.sum(new long[] {1}, false, new ScalarTypeOptional());
             Tensor sumAll = combined(sumLocal, group);
             Tensor localY = y.sub(new Scalar(offset));
             Tensor valid = y.ne(new Scalar(CausalLmLoss.IGNORE_INDEX));
             Tensor aboveStart = localY.ge(new Scalar(0));
             Tensor belowEnd = localY.lt(new Scalar(slice));
             Tensor inSliceA = valid.logical_and(aboveStart);
             Tensor inSlice = inSliceA.logical_and(belowEnd);
             Tensor outside = inSlice.logical_not();
             Tensor index = localY.masked_fill(outside, new Scalar(0));
             Tensor indexCol = index.unsqueeze(1);
             Tensor picked = shifted.gather(1, indexCol);
             Tensor pickedFlat = picked.squeeze(1);
             Tensor targetLocal = pickedFlat.masked_fill(outside, new Scalar(0.0));
             Tensor targetAll = combined(targetLocal, group);
             Tensor logSum = sumAll.log();
             Tensor perToken = logSum.sub(targetAll);
             Tensor ignored = valid.logical_not();
             Tensor counted = perToken.masked_fill(ignored, new Scalar(0.0))) {
            return counted.sum();
        }
    }

    /** The per-row maximum over the whole vocabulary (no gradient: a constant shift). */
    private static Tensor globalMax(Tensor l, Collectives group) {
        try (NoGradGuard g = new NoGradGuard();
             Tensor d = l.detach();
             Tensor localMax = d.amax(new long[] {1}, false);
             Tensor row = localMax.unsqueeze(0);
             Tensor all = group.allGatherAlong(row, 0)) {
            return all.amax(new long[] {0}, false);
        }
    }

    /** {@code local + (sum over the group - local).detach()}: the group's sum, with gradient to the local terms. */
    private static Tensor combined(Tensor local, Collectives group) {
        try (Tensor d = local.detach(); Tensor sum = d.clone()) {
            group.allReduceSum(sum).await();
            try (Tensor others = sum.sub(d)) {
                return local.add(others);
            }
        }
    }
}
