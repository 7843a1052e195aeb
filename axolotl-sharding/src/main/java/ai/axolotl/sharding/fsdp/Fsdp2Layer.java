package ai.axolotl.sharding.fsdp;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.ConfigException;
import ai.axolotl.config.FsdpSettings;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.sharding.partition.CommunicationPlan;
import ai.axolotl.sharding.partition.PartitionPlan;
import ai.axolotl.sharding.partition.PartitionedLayer;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.LinkedHashSet;
import java.util.Set;

/**
 * FSDP2 ({@code fully_shard}) semantics over the shared partition engine: every parameter sharded on dim 0
 * across the {@code dp_shard} ranks (padding rows when the world does not divide them); the wrap unit is each
 * {@code transformer_layer_cls_to_wrap} module (the embedding and the head are gathered as their own units);
 * parameters all-gathered before a unit's forward and freed after it with {@code reshard_after_forward: true}
 * (gathered again before backward), kept until backward with {@code false}; gradients reduce-scattered after each
 * unit's backward; the next unit's gather prefetched. With {@code dp_replicate_size > 1} (HSDP) the gradient
 * shards are also summed across the replicate groups.
 */
public final class Fsdp2Layer extends PartitionedLayer {
    /** Sub-directory of a checkpoint holding the shards. */
    public static final String DIR = "fsdp";
    private final FsdpSettings fsdp;

    /**
     * @param fsdp the fsdp_config block, bound
     * @param bf16 {@code bf16: true}: gather and compute in bf16 (as {@code mixed_precision_policy} can also ask)
     * @param dataParallel every data-parallel rank
     * @param shardGroup the dp_shard group
     * @param replicateGroup the dp_replicate group (HSDP), or null
     * @param mesh the mesh
     * @param rank global rank
     */
    public Fsdp2Layer(FsdpSettings fsdp, boolean bf16, Collectives dataParallel, Collectives shardGroup,
                      Collectives replicateGroup, DeviceMesh mesh, int rank) {
        super(new PartitionPlan(replicateGroup != null && replicateGroup.size() > 1 ? "hsdp" : "fsdp2", true, true,
                fsdp.reshardAfterForward(), true, c -> 0, DIR, bf16 || fsdp.bf16Params(),
                c -> CommunicationPlan.PER_UNIT.withReduceType(fsdp.bf16Reduce() ? ScalarType.BFloat16
                        : ScalarType.Float)),
                dataParallel, shardGroup, replicateGroup, mesh, rank);
        this.fsdp = fsdp;
    }

    /** The bound fsdp_config block. */
    public FsdpSettings fsdp() {
        return fsdp;
    }

    @Override
    public boolean rankZeroLoadsWeights() {
        return fsdp.cpuRamEfficientLoading();
    }

    @Override
    public boolean checkpointHoldsFullModel() {
        return fsdp.fullStateDict();
    }

    @Override
    public void setup(CausalLm model, OptimizerSettings settings) {
        checkWrapClass(model);
        super.setup(model, settings);
    }

    /** Checks the wrap classes name modules of the model; the error lists the classes that exist. */
    private void checkWrapClass(CausalLm model) {
        Set<String> classes = new LinkedHashSet<>();
        for (ModelUnit u : model.units()) {
            classes.add(u.moduleClass());
        }
        for (String c : fsdp.transformerLayerClsToWrap()) {
            if (!classes.contains(c)) {
                throw new ConfigException("fsdp_config.transformer_layer_cls_to_wrap", "'" + c
                        + "' matches no module of the model; its classes are " + classes);
            }
        }
    }
}
