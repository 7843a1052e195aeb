package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The output projection and next-token cross entropy computed in chunks of tokens, never holding the logits of the
 * whole micro-batch: what Axolotl's Cut Cross Entropy plugin and Liger's fused linear cross entropy do on GPUs.
 * Each chunk's logits ({@code tokens x vocab}, fp32) are made, reduced to its summed loss, and (in training)
 * differentiated at once, adding to the hidden states' and the weight's gradients before the next chunk; only
 * one chunk's logits and their gradient are alive at a time. Labels are shifted on the whole row first
 * ({@link CausalLmLoss#nextTokenTargets}), so chunks cut anywhere. Under tensor parallelism each chunk's loss is the
 * vocab-parallel one ({@link ModelParallelism#lossSumAligned}); every rank runs the same chunks.
 *
 * <p>Same loss and gradients as the plain path up to summation order: each chunk's gradient is
 * {@code softmax - onehot} of its own tokens, as in the whole.
 */
public final class ChunkedCrossEntropy {
    /** Logit elements per chunk at most by default (2^25 fp32: 128 MiB, and as much for their gradient). */
    public static final long CHUNK_ELEMENTS = 1L << 25;
    /** System property that replaces {@link #CHUNK_ELEMENTS} (smaller chunks: less memory, smaller GEMMs). */
    public static final String CHUNK_PROPERTY = "axolotl.loss_chunk_elements";

    private ChunkedCrossEntropy() {}

    /** Logit elements per chunk: {@value #CHUNK_PROPERTY} when set, else {@link #CHUNK_ELEMENTS}. */
    public static long chunkElements() {
        String v = System.getProperty(CHUNK_PROPERTY);
        if (v == null) {
            return CHUNK_ELEMENTS;
        }
        try {
            long n = Long.parseLong(v.trim());
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("-D" + CHUNK_PROPERTY + "=" + v + ": expected a positive number of "
                + "logit elements per chunk");
    }

    /** Tokens per chunk for a vocabulary (slice) of {@code vocab} entries: at least one. */
    public static long chunkTokens(long vocab, long chunkElements) {
        return Math.max(1, chunkElements / Math.max(1, vocab));
    }

    /**
     * The summed loss of one micro-batch; with {@code backward}, the gradients of {@code loss / normalizer} are
     * added to {@code hidden}'s {@code grad} and to the weight's.
     *
     * @param hidden [B, T, H] a leaf (requiring grad when {@code backward}): the head's normed hidden states
     * @param weight [V (or this rank's slice), H] the output projection
     * @param targets [B, T] the next-token targets of each position ({@link CausalLmLoss#nextTokenTargets} of
     *     the row's labels, or a context-parallel shard's)
     * @param normalizer the step's label tokens
     * @param chunkElements logit elements per chunk at most
     */
    public static double lossSum(Tensor hidden, Tensor weight, Tensor targets, ModelParallelism parallel,
                                 double normalizer, boolean backward, long chunkElements) {
        long hiddenSize = hidden.size(2);
        long tokens = hidden.size(0) * hidden.size(1);
        long chunk = chunkTokens(weight.size(0), chunkElements);
        // the head's rule: float32 logits (float64 for a float64 model)
        ScalarType logitType = Tensors.sameType(hidden.scalar_type(), ScalarType.Double) ? ScalarType.Double
                : ScalarType.Float;
        double sum = 0;
        try (Tensor flatTargets = targets.reshape(-1);
             Tensor flatHidden = hidden.reshape(-1, hiddenSize);
             Tensor w = Tensors.sameType(weight.scalar_type(), hidden.scalar_type()) ? new Tensor(weight)
                     : weight.to(hidden.scalar_type())) {
            for (long start = 0; start < tokens; start += chunk) {
                long len = Math.min(chunk, tokens - start);
                try (Tensor h = flatHidden.narrow(0, start, len);
                     Tensor y = flatTargets.narrow(0, start, len)) {
                    if (backward) {
                        try (Tensor logits = torch.linear(h, w);
                             Tensor f = logits.to(logitType);
                             Tensor loss = parallel.lossSumAligned(f, y);
                             Tensor scaled = loss.div(Tensors.scalar(normalizer))) {
                            sum += loss.item_double();
                            backward(scaled);
                        }
                    } else {
                        try (NoGradGuard g = new NoGradGuard();
                             Tensor logits = torch.linear(h, w);
                             Tensor f = logits.to(logitType);
                             Tensor loss = parallel.lossSumAligned(f, y)) {
                            sum += loss.item_double();
                        }
                    }
                }
            }
        }
        return sum;
    }

    private static void backward(Tensor scalar) {
        try (TensorVector outs = new TensorVector(scalar);
             TensorVector grads = new TensorVector();
             TensorVector inputs = new TensorVector();
             BoolOptional retain = new BoolOptional()) {
            torch.backward(outs, grads, retain, false, inputs);
        }
    }
}
