package ai.axolotl.sharding.fsdp;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.sharding.partition.CommunicationPlan;
import ai.axolotl.sharding.partition.PartitionPlan;
import ai.axolotl.sharding.partition.PartitionedStrategy;

import java.util.Map;
import java.util.function.Consumer;

/**
 * FSDP2 ({@code fully_shard}) semantics over the shared partition engine: every parameter sharded on dim 0
 * across the {@code dp_shard} ranks (padding rows when the world does not divide them); the wrap unit is each
 * {@code transformer_layer_cls_to_wrap} module (the embedding and the head are gathered as their own units);
 * parameters all-gathered before a unit's forward and freed after it with {@code reshard_after_forward: true}
 * (gathered again before backward), kept until backward with {@code false}; gradients reduce-scattered after each
 * unit's backward; the next unit's gather prefetched. With {@code dp_replicate_size > 1} (HSDP) the gradient
 * shards are also summed across the replicate groups.
 */
public final class Fsdp2Strategy extends PartitionedStrategy {
    /** Sub-directory of a checkpoint holding the shards. */
    public static final String DIR = "fsdp";
    private final Fsdp2Options options;

    /**
     * @param options the fsdp_config block
     * @param dataParallel every data-parallel rank
     * @param shardGroup the dp_shard group
     * @param replicateGroup the dp_replicate group (HSDP), or null
     * @param mesh the mesh
     * @param rank global rank
     * @param preflight the runtime's preflight check
     * @param onStep progress callback
     */
    public Fsdp2Strategy(Fsdp2Options options, Collectives dataParallel, Collectives shardGroup,
                         Collectives replicateGroup, DeviceMesh mesh, int rank,
                         Consumer<Map<String, String>> preflight, Runnable onStep) {
        super(new PartitionPlan(replicateGroup != null && replicateGroup.size() > 1 ? "hsdp" : "fsdp2", true, true,
                options.reshardAfterForward(), true, c -> 0, DIR, options.bf16(), c -> CommunicationPlan.PER_UNIT),
                dataParallel, shardGroup,
                replicateGroup, mesh, rank,
                preflight, onStep);
        this.options = options;
    }

    /** The options. */
    public Fsdp2Options options() {
        return options;
    }

    @Override
    public boolean rankZeroLoadsWeights() {
        return options.cpuRamEfficientLoading();
    }

    @Override
    protected boolean fullStateDict() {
        return options.stateDictType().equals("FULL_STATE_DICT");
    }

    @Override
    public void setup(LlamaModel model, OptimizerSettings settings) {
        options.checkWrapClass(model);
        super.setup(model, settings);
    }
}
