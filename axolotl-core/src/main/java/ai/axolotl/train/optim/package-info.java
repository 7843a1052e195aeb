/**
 * Low-bit AdamW: {@link ai.axolotl.train.optim.LowBitFormat} (bitsandbytes' and torchao's 8-bit and 4-bit state
 * formats), the moments a parameter or partition keeps ({@link ai.axolotl.train.optim.FullMoment},
 * {@link ai.axolotl.train.optim.QuantizedMoment}) and {@link ai.axolotl.train.optim.JavaAdamW}, whose update rule
 * the partition engine's optimizer shares.
 */
package ai.axolotl.train.optim;
