/**
 * The one decoder of every built model family ({@link ai.axolotl.model.CausalLm}, implemented by
 * {@link ai.axolotl.model.DecoderModel}): Hugging Face semantics and weight names, run as an ordered list of units;
 * families as declarations ({@link ai.axolotl.model.ModelFamily}, registered in
 * {@link ai.axolotl.model.ModelFamilies}) read strictly from {@code config.json} into one
 * {@link ai.axolotl.model.ModelConfig}; each parameter's declaration ({@link ai.axolotl.model.ParameterSpec}) for
 * the strategies to apply; safetensors and {@code config.json} input and output.
 */
package ai.axolotl.model;
