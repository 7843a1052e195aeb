/**
 * The built-in Llama decoder: Hugging Face {@code LlamaForCausalLM} semantics and weight names, run as an
 * ordered list of units, with safetensors and {@code config.json} input and output.
 */
package ai.axolotl.model;
