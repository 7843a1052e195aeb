package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

/**
 * Makes the projection a decoder layer applies for one of its linear parameters: the seam through which an adapter
 * (LoRA) or a quantized base replaces the dense map without the layer knowing. {@link #DENSE} is the default.
 */
@FunctionalInterface
public interface ProjectionFactory {
    /** Dense projections over the parameters as held. */
    ProjectionFactory DENSE = (spec, weight, bias, biasScale) -> new DenseProjection(weight, bias, biasScale);

    /**
     * @param spec the weight's declaration (its name says which projection: {@code ...self_attn.q_proj.weight})
     * @param weight the [out, in] weight as this rank holds it
     * @param bias its bias, or null
     * @param biasScale what the bias is multiplied by (1, or 1/tp for a row-parallel bias)
     */
    Projection create(ParameterSpec spec, Tensor weight, Tensor bias, double biasScale);
}
