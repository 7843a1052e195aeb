package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

/**
 * A linear map without bias, {@code y = x W^T}. The dense version holds the whole weight; a tensor-parallel
 * strategy can substitute a version that holds a slice and communicates.
 */
public interface Projection {
    /** Applies the map to the last dimension of {@code x}. */
    Tensor apply(Tensor x);
}
