package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Next-token cross entropy: {@code logits[:, :-1]} against {@code labels[:, 1:]}, ignoring label -100. */
public final class CausalLmLoss {
    /** The label value that takes no part in the loss. */
    public static final long IGNORE_INDEX = -100;
    private static final long REDUCTION_SUM = 2;

    private CausalLmLoss() {}

    /** The summed (not averaged) loss over every label token; divide by the token count of the whole step. */
    public static Tensor sum(Tensor logits, Tensor labels) {
        try (Tensor l = predictions(logits); Tensor y = targets(labels)) {
            return torch.cross_entropy_loss(l, y, new TensorOptional(), REDUCTION_SUM, IGNORE_INDEX, 0.0);
        }
    }

    /**
     * The logits that predict a next token, {@code logits[:, :-1]} as [B * (T - 1), vocab (or a slice of it)]. fp16
     * logits are upcast to fp32 (as Hugging Face's loss does): a summed loss over a few thousand tokens, or a
     * softmax denominator over a large vocabulary, exceeds fp16's 65504.
     */
    public static Tensor predictions(Tensor logits) {
        try (Tensor l = logits.narrow(1, 0, logits.size(1) - 1)) {
            if (logits.scalar_type().value == ScalarType.Half.value) {
                try (Tensor r = l.reshape(-1, logits.size(2))) {
                    return r.to(ScalarType.Float);
                }
            }
            return l.reshape(-1, logits.size(2));
        }
    }

    /** The tokens they predict, {@code labels[:, 1:]} as [B * (T - 1)]. */
    public static Tensor targets(Tensor labels) {
        try (Tensor y = labels.narrow(1, 1, labels.size(1) - 1)) {
            return y.reshape(-1);
        }
    }

    /**
     * The summed loss of logits already aligned with their targets: {@code logits} [N, vocab] at the positions
     * that predict {@code targets} [N] (-100 ignored); what a chunk of {@link ChunkedCrossEntropy} computes.
     */
    public static Tensor alignedSum(Tensor logits, Tensor targets) {
        try (Tensor l = logits.scalar_type().value == ScalarType.Half.value ? logits.to(ScalarType.Float)
                : new Tensor(logits)) {
            return torch.cross_entropy_loss(l, targets, new TensorOptional(), REDUCTION_SUM, IGNORE_INDEX, 0.0);
        }
    }

    /**
     * The next token of each position, {@code labels[:, 1:]} followed by -100 for the last one, as [B, T]: the
     * targets of the logits at the same positions, so that the sequence can be cut anywhere.
     */
    public static Tensor nextTokenTargets(Tensor labels) {
        long b = labels.size(0);
        long t = labels.size(1);
        try (Tensor next = labels.narrow(1, 1, t - 1);
             Tensor last = torch.full(new long[] {b, 1}, new org.bytedeco.pytorch.Scalar(IGNORE_INDEX),
                     ai.axolotl.runtime.Tensors.optionsOn(ScalarType.Long, labels));
             org.bytedeco.pytorch.TensorVector both = new org.bytedeco.pytorch.TensorVector(next, last)) {
            return torch.cat(both, 1);
        }
    }

    /** Number of label tokens that count towards the loss of a [B, T] label tensor. */
    public static long countTokens(long[] labels, int batch, int seqLen) {
        long n = 0;
        for (int b = 0; b < batch; b++) {
            for (int i = 1; i < seqLen; i++) {
                if (labels[b * seqLen + i] != IGNORE_INDEX) {
                    n++;
                }
            }
        }
        return n;
    }
}
