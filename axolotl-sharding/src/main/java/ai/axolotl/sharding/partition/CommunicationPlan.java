package ai.axolotl.sharding.partition;

import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * How a partitioned strategy batches and overlaps its collectives, resolved for one model.
 *
 * @param reduceBucketElements gradient elements per reduce-scatter bucket (DeepSpeed {@code reduce_bucket_size});
 *     0: one bucket per unit (FSDP2)
 * @param overlap leave reductions in flight while backward continues (DeepSpeed {@code overlap_comm}); false
 *     waits for each as soon as it is launched
 * @param prefetchElements how many parameter elements may be gathered ahead of the running unit, parameter by
 *     parameter in execution order (DeepSpeed {@code stage3_prefetch_bucket_size}); negative: the whole next unit
 *     (FSDP2's one-unit prefetch)
 * @param maxLiveElements the most gathered parameter elements held at once, the running unit's included (DeepSpeed
 *     {@code stage3_max_live_parameters}); prefetching stops before exceeding it
 * @param reduceType the dtype gradients travel in (fp32, or bf16 from FSDP2's {@code reduce_dtype} / DeepSpeed's
 *     {@code communication_data_type}); they are summed into fp32 gradient partitions either way
 */
public record CommunicationPlan(long reduceBucketElements, boolean overlap, long prefetchElements,
                                long maxLiveElements, ScalarType reduceType) {
    /** FSDP2: a bucket per unit, overlapped, the next unit prefetched, fp32 reductions. */
    public static final CommunicationPlan PER_UNIT = new CommunicationPlan(0, true, -1, Long.MAX_VALUE,
            ScalarType.Float);

    /** The same plan with gradients reduced in {@code type}. */
    public CommunicationPlan withReduceType(ScalarType type) {
        return new CommunicationPlan(reduceBucketElements, overlap, prefetchElements, maxLiveElements, type);
    }
}
