/** NCCL collectives and NCCL environment handling for CUDA builds. */
package ai.axolotl.nccl;
