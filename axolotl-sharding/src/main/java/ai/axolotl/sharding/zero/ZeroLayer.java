package ai.axolotl.sharding.zero;

import ai.axolotl.config.DeepSpeedConfig;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.sharding.partition.CommunicationPlan;
import ai.axolotl.sharding.partition.PartitionPlan;
import ai.axolotl.sharding.partition.PartitionedLayer;
import org.bytedeco.pytorch.global.torch.ScalarType;


/**
 * ZeRO stages 1, 2 and 3 over the data-parallel ranks (DeepSpeed semantics), as plans of the shared partition
 * engine:
 * <ul>
 *   <li>Stage 1: optimizer state partitioned; every rank holds the whole model and full gradients, which are
 *       reduce-scattered after the last micro-batch; each rank updates its partition and the updated partitions
 *       are all-gathered into the model.</li>
 *   <li>Stage 2: also gradients: each unit's gradients are reduce-scattered as soon as its backward ends (every
 *       micro-batch, overlapped with the rest of backward) and only the partition is kept.</li>
 *   <li>Stage 3: also parameters: gathered just before each unit's forward and again before its backward, freed
 *       after, the next unit prefetched; parameters up to {@code stage3_param_persistence_threshold} elements stay
 *       whole.</li>
 * </ul>
 */
public final class ZeroLayer extends PartitionedLayer {
    private final int stage;

    /**
     * @param stage 1, 2 or 3
     * @param ds the DeepSpeed options
     * @param bf16 bf16 working copies: stage 3 gathers parameters in bf16
     * @param dataParallel the data-parallel group (partitions are spread over it)
     * @param mesh the mesh
     * @param rank global rank
     */
    public ZeroLayer(int stage, DeepSpeedConfig ds, boolean bf16, Collectives dataParallel,
                     DeviceMesh mesh, int rank) {
        super(plan(stage, ds, bf16), dataParallel, dataParallel, null, mesh, rank);
        this.stage = stage;
    }

    static PartitionPlan plan(int stage, DeepSpeedConfig ds, boolean bf16) {
        if (stage < 1 || stage > 3) {
            throw new IllegalArgumentException("ZeRO stage must be 1, 2 or 3, got " + stage);
        }
        return new PartitionPlan("zero" + stage, stage >= 2, stage == 3, true, false,
                c -> ds.persistenceThreshold(c.hiddenSize()), ZeroCheckpointLayout.DIR, bf16,
                c -> new CommunicationPlan(ds.reduceBucketElements(c.hiddenSize()), ds.overlapComm(),
                        ds.prefetchElements(c.hiddenSize()),
                        ds.maxLiveParameters(), ds.communicationDataType().equals("bfloat16")
                        ? ScalarType.BFloat16 : ScalarType.Float));
    }

    /** The stage. */
    public int stage() {
        return stage;
    }
}
