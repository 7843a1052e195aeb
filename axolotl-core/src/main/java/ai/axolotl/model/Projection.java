package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

/** A linear map {@code y = x W^T (+ b)} over the last dimension, as one decoder projection applies it. */
public interface Projection {
    /**
     * Applies the map to the last dimension of {@code x}.
     *
     * @param ctx the micro-batch's context (an adapter's dropout draws its mask from {@link
     *            ForwardContext#dropoutSeed}, so a recomputed forward draws the same mask)
     */
    Tensor apply(Tensor x, ForwardContext ctx);
}
