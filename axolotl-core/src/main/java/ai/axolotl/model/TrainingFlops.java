package ai.axolotl.model;

/**
 * Floating-point operations one token costs a training step (forward and backward) of a Llama model, counted the
 * way PaLM, Megatron and torchtitan count them for model FLOPs utilization: {@code 6} per weight of every matrix
 * multiplication (2 forward, 4 backward; the embedding lookup is not one, the {@code lm_head} is, tied or not), plus
 * {@code 12 x layers x hidden x sequence} for the attention scores and their weighted sum (no causal halving, no
 * packing mask). Recomputation by activation checkpointing is not counted: this is MFU, not hardware utilization.
 */
public final class TrainingFlops {
    private TrainingFlops() {}

    /** Weights that take part in matrix multiplications: every projection of every layer and the lm_head. */
    public static long matmulWeights(ModelConfig c) {
        long d = c.hiddenSize();
        long kv = (long) c.numKeyValueHeads() * c.headDim();
        long q = (long) c.numAttentionHeads() * c.headDim();
        long perLayer = d * q + 2 * d * kv + q * d + 3 * d * c.intermediateSize();
        return c.numHiddenLayers() * perLayer + d * c.vocabSize();
    }

    /**
     * FLOPs per token of a training step on rows of {@code sequenceLen} tokens, whole model (a tensor-parallel rank
     * does its share of it).
     */
    public static double perToken(ModelConfig c, int sequenceLen) {
        double attention = 12.0 * c.numHiddenLayers() * c.numAttentionHeads() * c.headDim() * sequenceLen;
        return 6.0 * matmulWeights(c) + attention;
    }
}
