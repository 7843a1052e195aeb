package ai.axolotl.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Binds an {@code fsdp_config} block (prefix already stripped) into {@link FsdpSettings}: every key is acted on,
 * accepted with a warning naming it and why it has no effect, or refused naming the feature
 * ({@link ConfigKeys#fsdpKey}). Values are checked as Axolotl's schema checks them; every problem is collected.
 */
final class FsdpConfigBinder {
    private static final List<String> DTYPES = List.of("float32", "bfloat16");

    private FsdpConfigBinder() {}

    static FsdpSettings bind(Map<String, Object> f, List<ConfigError> errors, List<String> warnings) {
        RawValues r = new RawValues(f, "fsdp_config", errors);
        for (String key : f.keySet()) {
            ConfigKeys.Key k = ConfigKeys.fsdpKey(key);
            if (k == null || f.get(key) == null) {
                continue; // unknown keys were reported by the binder
            }
            if (k.kind() == ConfigKeys.Kind.NO_EFFECT) {
                warnings.add("fsdp_config." + key + " has no effect here: " + k.note());
            } else if (k.kind() == ConfigKeys.Kind.UNSUPPORTED && !Boolean.FALSE.equals(f.get(key))) {
                r.error(key, k.note());
            }
        }
        boolean reshard = reshardAfterForward(f, r);
        String wrapPolicy = r.string("auto_wrap_policy", "TRANSFORMER_BASED_WRAP");
        if (wrapPolicy.equals("SIZE_BASED_WRAP")) {
            r.error("auto_wrap_policy", "SIZE_BASED_WRAP (wrapping by min_num_params) is not available; use "
                    + "TRANSFORMER_BASED_WRAP with transformer_layer_cls_to_wrap");
        } else if (!wrapPolicy.equals("TRANSFORMER_BASED_WRAP")) {
            r.error("auto_wrap_policy", "expected TRANSFORMER_BASED_WRAP, got '" + wrapPolicy + "'");
        }
        List<String> wrap = new ArrayList<>();
        Object w = f.get("transformer_layer_cls_to_wrap");
        if (w != null) { // absent: the model's own decoder-layer class, known once the model is read
            for (String s : r.stringList("transformer_layer_cls_to_wrap")) {
                for (String part : s.split(",")) {
                    if (!part.isBlank()) {
                        wrap.add(part.trim());
                    }
                }
            }
        }
        String sdt = r.string("state_dict_type", "SHARDED_STATE_DICT");
        if (sdt.equals("LOCAL_STATE_DICT")) {
            r.error("state_dict_type", "LOCAL_STATE_DICT (FSDP1's flat per-rank files) is not available; use "
                    + "SHARDED_STATE_DICT, which also reshards to other world sizes, or FULL_STATE_DICT");
        } else if (!sdt.equals("SHARDED_STATE_DICT") && !sdt.equals("FULL_STATE_DICT")) {
            r.error("state_dict_type", "expected SHARDED_STATE_DICT or FULL_STATE_DICT, got '" + sdt + "'");
        }
        String param = "float32"; // bf16: true also gathers in bf16 (the strategy combines both)
        String reduce = "float32";
        Object mp = f.get("mixed_precision_policy");
        if (mp instanceof Map<?, ?> m) {
            @SuppressWarnings("unchecked")
            RawValues policy = new RawValues((Map<String, Object>) m, "fsdp_config.mixed_precision_policy", errors);
            for (Object key : m.keySet()) {
                if (!List.of("param_dtype", "reduce_dtype", "output_dtype").contains(String.valueOf(key))) {
                    policy.error(String.valueOf(key), "unknown key; expected param_dtype, reduce_dtype, output_dtype");
                }
            }
            param = dtype(policy, "param_dtype", param);
            reduce = dtype(policy, "reduce_dtype", reduce);
            String output = dtype(policy, "output_dtype", "float32");
            if (!output.equals("float32")) {
                policy.error("output_dtype", "only float32 is available (the loss is computed from fp32 logits)");
            }
        } else if (mp != null) {
            String s = String.valueOf(mp).toLowerCase(Locale.ROOT);
            switch (s) {
                case "bf16", "bfloat16" -> param = "bfloat16";
                case "fp32", "float32", "no" -> { }
                default -> r.error("mixed_precision_policy", "expected bf16, fp32 or a mapping of param_dtype, "
                        + "reduce_dtype and output_dtype, got '" + mp + "'");
            }
        }
        return new FsdpSettings(reshard, r.bool("activation_checkpointing", false), wrap,
                sdt.equals("FULL_STATE_DICT"), r.bool("cpu_ram_efficient_loading", false), param, reduce);
    }

    private static String dtype(RawValues r, String key, String dflt) {
        String v = r.string(key, dflt).toLowerCase(Locale.ROOT).replace("torch.", "");
        v = switch (v) {
            case "bf16" -> "bfloat16";
            case "fp32", "float" -> "float32";
            default -> v;
        };
        if (!DTYPES.contains(v)) {
            r.error(key, "expected float32 or bfloat16, got '" + r.get(key) + "'");
            return dflt;
        }
        return v;
    }

    /**
     * {@code reshard_after_forward} as Axolotl's schema accepts it: a boolean, the strings "true"/"false", or
     * FSDP1's sharding strategy names; else the FSDP1 key {@code sharding_strategy}; default true.
     */
    private static boolean reshardAfterForward(Map<String, Object> f, RawValues r) {
        Object v = f.get("reshard_after_forward");
        String key = "reshard_after_forward";
        if (v == null) {
            v = f.get("sharding_strategy");
            key = "sharding_strategy";
        }
        if (v == null) {
            return true;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        String s = String.valueOf(v).trim().toUpperCase(Locale.ROOT);
        switch (s) {
            case "TRUE", "FULL_SHARD", "1", "HYBRID_SHARD", "4" -> {
                return true;
            }
            case "FALSE", "SHARD_GRAD_OP", "2", "_HYBRID_SHARD_ZERO2", "5" -> {
                return false;
            }
            case "NO_SHARD", "3" -> {
                r.error(key, "NO_SHARD is plain data parallel: remove fsdp_config to train data parallel");
                return true;
            }
            default -> {
                r.error(key, "expected true, false or an FSDP1 sharding strategy (FULL_SHARD, SHARD_GRAD_OP, "
                        + "HYBRID_SHARD, _HYBRID_SHARD_ZERO2), got '" + v + "'");
                return true;
            }
        }
    }
}
