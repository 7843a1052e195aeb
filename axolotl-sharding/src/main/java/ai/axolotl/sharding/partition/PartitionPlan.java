package ai.axolotl.sharding.partition;

/**
 * What a partitioned strategy partitions and when, the single knob set ZeRO and FSDP2 differ by (as torchtitan
 * puts it, ZeRO-2 vs ZeRO-3 is reshard-after-forward).
 *
 * @param name strategy name for logs
 * @param partitionGradients reduce-scatter each unit's gradients as its backward ends and keep only partitions
 * @param partitionParameters free parameters between uses, gathering them per unit
 * @param reshardAfterForward with partitioned parameters: free after forward and gather again for backward
 *     (the forward is recomputed there); false keeps them from forward until backward
 * @param rowAligned partitions hold whole rows (dim-0 sharding, FSDP2); false: flat elements (ZeRO)
 * @param persistenceThreshold parameters with at most this many elements stay whole
 * @param checkpointDir sub-directory of a checkpoint for the partitions ("zero" or "fsdp")
 * @param bf16Gather gather partitioned parameters in bf16 (mixed precision; masters stay fp32)
 */
public record PartitionPlan(String name, boolean partitionGradients, boolean partitionParameters,
                            boolean reshardAfterForward, boolean rowAligned, long persistenceThreshold,
                            String checkpointDir, boolean bf16Gather) {}
