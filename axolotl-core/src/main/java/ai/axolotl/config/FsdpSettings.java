package ai.axolotl.config;

import java.io.Serializable;
import java.util.List;

/**
 * The {@code fsdp_config} block bound once into types (FSDP1 spellings migrated): what the FSDP2 strategy reads.
 *
 * @param reshardAfterForward free a unit's gathered parameters after its forward (FSDP1
 *     {@code sharding_strategy: FULL_SHARD}); false keeps them until its backward ({@code SHARD_GRAD_OP})
 * @param activationCheckpointing recompute each decoder layer's forward in backward
 * @param transformerLayerClsToWrap the module classes that become units ({@code Qwen3DecoderLayer}); empty: the
 *                                  model's own decoder-layer class
 * @param fullStateDict checkpoints also hold the consolidated model ({@code state_dict_type: FULL_STATE_DICT})
 * @param cpuRamEfficientLoading only rank 0 reads the weights; the others receive their shards
 * @param paramDtype the dtype parameters are gathered and computed in ({@code float32} or {@code bfloat16})
 * @param reduceDtype the dtype gradients are reduce-scattered in ({@code float32} or {@code bfloat16}); the
 *     gradient partitions and the optimizer stay fp32
 */
public record FsdpSettings(boolean reshardAfterForward, boolean activationCheckpointing,
                           List<String> transformerLayerClsToWrap, boolean fullStateDict,
                           boolean cpuRamEfficientLoading, String paramDtype, String reduceDtype) implements Serializable {
    /** Copies the list so the record stays immutable. */
    public FsdpSettings {
        transformerLayerClsToWrap = List.copyOf(transformerLayerClsToWrap);
    }

    /** True when parameters are gathered and computed in bf16. */
    public boolean bf16Params() {
        return paramDtype.equals("bfloat16");
    }

    /** True when gradients are reduce-scattered in bf16. */
    public boolean bf16Reduce() {
        return reduceDtype.equals("bfloat16");
    }
}
