package ai.axolotl.sharding.partition;

import ai.axolotl.model.ModelConfig;

import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * What a partitioned strategy partitions and when, the single knob set ZeRO and FSDP2 differ by (as torchtitan
 * puts it, ZeRO-2 vs ZeRO-3 is reshard-after-forward).
 *
 * @param name strategy name for logs
 * @param partitionGradients reduce-scatter each unit's gradients as its backward ends and keep only partitions
 * @param partitionParameters free parameters between uses, gathering them per unit
 * @param reshardAfterForward with partitioned parameters: free after forward and gather again into the same
 *     storage for backward; false keeps them from forward until backward
 * @param rowAligned partitions hold whole rows (dim-0 sharding, FSDP2); false: flat elements (ZeRO)
 * @param persistenceThreshold for a model's shape, the element count up to which parameters stay whole
 * @param checkpointDir sub-directory of a checkpoint for the partitions ("zero" or "fsdp")
 * @param bf16Gather gather partitioned parameters in bf16 (mixed precision; masters stay fp32)
 * @param communication for a model's shape, how collectives are bucketed, overlapped and prefetched
 */
public record PartitionPlan(String name, boolean partitionGradients, boolean partitionParameters,
                            boolean reshardAfterForward, boolean rowAligned,
                            ToLongFunction<ModelConfig> persistenceThreshold,
                            String checkpointDir, boolean bf16Gather,
                            Function<ModelConfig, CommunicationPlan> communication) {}
