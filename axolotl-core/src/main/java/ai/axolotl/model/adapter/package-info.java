/**
 * Adapters: which parts of a model train. {@link ai.axolotl.model.adapter.Adapters#apply} turns a run's
 * {@code AdapterSettings} into an {@link ai.axolotl.model.adapter.AdaptedModel}: the base frozen, LoRA's A and B
 * over the projections {@link ai.axolotl.model.adapter.LoraTargets} selects (PEFT's matching), each applied by a
 * {@link ai.axolotl.model.adapter.LoraProjection} through the model's projection seam, and base parameters left
 * trainable ({@code lora_modules_to_save}, {@code unfrozen_parameters}). Strategies see only the trainable part as
 * the model's parameters. {@link ai.axolotl.model.adapter.PeftFiles} writes and reads PEFT's
 * {@code adapter_config.json} and {@code adapter_model.safetensors}.
 */
package ai.axolotl.model.adapter;
