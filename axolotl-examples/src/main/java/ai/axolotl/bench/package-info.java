/** Benchmarks behind {@code axolotl bench}: the trainer against a bare libtorch loop on the reference shapes. */
package ai.axolotl.bench;
