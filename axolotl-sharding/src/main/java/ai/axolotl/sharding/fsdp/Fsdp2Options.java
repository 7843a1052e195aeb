package ai.axolotl.sharding.fsdp;

import ai.axolotl.config.ConfigException;
import ai.axolotl.config.ParallelSettings;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.model.ModelUnit;

import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * The {@code fsdp_config} block (FSDP2 spelling; FSDP1 keys arrive already migrated), read into what the
 * strategy needs.
 *
 * @param reshardAfterForward free a unit's gathered parameters after its forward (ZeRO-3-like); false keeps
 *     them until its backward (ZeRO-2-like)
 * @param activationCheckpointing recompute activations in backward
 * @param wrapClass the module class whose instances are the wrap units ({@code LlamaDecoderLayer})
 * @param offloadParams keep shards in host memory between uses (CPU builds: where they are anyway)
 * @param stateDictType SHARDED_STATE_DICT or FULL_STATE_DICT
 * @param bf16 gather and compute in bf16 (bf16: true or mixed_precision_policy: bf16); masters and gradient
 *     reduction stay fp32
 * @param cpuRamEfficientLoading only rank 0 reads the weights; the others receive their shards
 */
public record Fsdp2Options(boolean reshardAfterForward, boolean activationCheckpointing, String wrapClass,
                           boolean offloadParams, String stateDictType, boolean bf16, boolean cpuRamEfficientLoading) {

    /** Reads the options, mapping FSDP1's sharding_strategy onto reshard_after_forward. */
    public static Fsdp2Options from(ParallelSettings p, boolean bf16) {
        Map<String, Object> f = p.fsdpConfig() == null ? Map.of() : p.fsdpConfig();
        Object reshard = f.get("reshard_after_forward");
        boolean rf = true;
        if (reshard instanceof Boolean b) {
            rf = b;
        } else if (f.get("sharding_strategy") != null) {
            String s = f.get("sharding_strategy").toString();
            rf = !(s.equals("SHARD_GRAD_OP") || s.equals("2") || s.equals("_HYBRID_SHARD_ZERO2"));
        }
        Object wrap = f.getOrDefault("transformer_layer_cls_to_wrap", "LlamaDecoderLayer");
        Object sdt = f.getOrDefault("state_dict_type", "SHARDED_STATE_DICT");
        boolean mp = bf16 || "bf16".equals(String.valueOf(f.get("mixed_precision_policy")));
        return new Fsdp2Options(rf, Boolean.TRUE.equals(f.get("activation_checkpointing")), wrap.toString(),
                Boolean.TRUE.equals(f.get("offload_params")), sdt.toString(), mp,
                Boolean.TRUE.equals(f.get("cpu_ram_efficient_loading")));
    }

    /** Checks the wrap class names a module of the model; the error lists the classes that exist. */
    public void checkWrapClass(LlamaModel model) {
        Set<String> classes = new LinkedHashSet<>();
        for (ModelUnit u : model.units()) {
            classes.add(u.moduleClass());
        }
        for (String c : wrapClass.split(",")) {
            if (!classes.contains(c.trim())) {
                throw new ConfigException("fsdp_config.transformer_layer_cls_to_wrap", "'" + c.trim()
                        + "' matches no module of the model; its classes are " + classes);
            }
        }
    }
}
