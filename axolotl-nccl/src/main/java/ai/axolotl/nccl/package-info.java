/**
 * NCCL for CUDA builds: {@link ai.axolotl.nccl.NcclCollectives} implements the same collectives interface as
 * Gloo, and {@link ai.axolotl.nccl.NcclEnvironment} decides the NCCL variables each rank starts with. Compiles and
 * is unit-tested without a GPU; tests that need CUDA skip with a message.
 */
package ai.axolotl.nccl;
