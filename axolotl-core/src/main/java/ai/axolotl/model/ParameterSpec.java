package ai.axolotl.model;

import java.util.Arrays;

/**
 * What a model declares about one parameter, for every strategy to apply: its Hugging Face name, global shape,
 * tensor-parallel layout, where its gradient stands under tensor parallelism, whether weight decay applies, and
 * how a fresh model initialises it.
 *
 * @param name the Hugging Face name
 * @param shape the global shape
 * @param tensorParallel how tensor parallelism lays it out
 * @param gradient where its gradient stands after a tensor-parallel rank's backward
 * @param trainable whether the optimizer updates it (every parameter of a full fine-tune; an adapter's frozen base
 *                  is not)
 * @param decays whether weight decay applies (not to norms and biases, as transformers' Trainer decides)
 * @param init how a fresh model fills it
 */
public record ParameterSpec(String name, long[] shape, TensorParallelStyle tensorParallel,
                            GradientPlacement gradient, boolean trainable, boolean decays, Init init) {
    /** How a fresh parameter is filled. */
    public enum Init {
        /** normal(0, initializer_range): linear weights and the embedding. */
        NORMAL,
        /** Ones: Llama-style norm weights. */
        ONES,
        /** Zeros: biases and Gemma-style (1 + w) norm weights. */
        ZEROS
    }

    /** Defensive copy of the shape. */
    public ParameterSpec {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements of the global shape. */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** The shape on one rank of {@code tp} tensor-parallel ranks. */
    public long[] localShape(int tp) {
        long[] s = shape.clone();
        int dim = tensorParallel.shardDim();
        if (dim >= 0) {
            s[dim] /= tp;
        }
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParameterSpec p && name.equals(p.name) && Arrays.equals(shape, p.shape)
                && tensorParallel == p.tensorParallel && gradient == p.gradient && trainable == p.trainable
                && decays == p.decays && init == p.init;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + " " + tensorParallel.placement() + " " + gradient;
    }
}
