/**
 * ZeRO stages 1-3 configured by DeepSpeed JSON: partitioned optimizer state, gradients and parameters over the
 * data-parallel ranks, sharded checkpoints and their consolidation.
 */
package ai.axolotl.sharding.zero;
