/**
 * Quantized storage of frozen weights: {@link ai.axolotl.model.quant.Nf4Tensor} (bitsandbytes NF4, bit for bit,
 * with double quantization of the absmax over {@link ai.axolotl.model.quant.DynamicMap}) and
 * {@link ai.axolotl.model.quant.Nf4Projection}, the frozen projection a QLoRA base applies through the model's
 * projection seam.
 */
package ai.axolotl.model.quant;
