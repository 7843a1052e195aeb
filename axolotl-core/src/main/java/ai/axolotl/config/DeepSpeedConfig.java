package ai.axolotl.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A DeepSpeed JSON config as Axolotl passes it ({@code deepspeed: PATH} or inline), read into what the ZeRO
 * strategies need. {@code "auto"} values are resolved from the Axolotl config (micro batch, accumulation,
 * clipping, precision) or, for bucket sizes, from the hidden size h as the Hugging Face integration does;
 * explicit values that contradict the Axolotl config are errors naming both keys. Options that cannot be
 * honoured fail (NVMe offload, unknown stage) or warn (compile, CPU offload on CPU builds) naming the key.
 *
 * @param stage ZeRO stage 0-3
 * @param overlapComm reduce gradients while backward proceeds
 * @param reduceBucketSize elements per gradient reduce-scatter bucket; null: "auto" (h*h)
 * @param prefetchBucketSize stage 3 prefetch size in elements; null: "auto" (0.9*h*h)
 * @param paramPersistenceThreshold stage 3: parameters up to this many elements stay whole; null: "auto" (10*h)
 * @param maxLiveParameters stage 3: most parameter elements gathered at once; prefetching stops before exceeding it
 *     (0, as in Axolotl's zero3 files, turns prefetching off as it does in DeepSpeed; default 1e9)
 * @param offloadOptimizer offload_optimizer.device is cpu
 * @param offloadParam offload_param.device is cpu
 * @param trainBatchSize explicit train_batch_size, or null for "auto" (checked against the world at run time)
 * @param communicationDataType the dtype gradients are reduced in: {@code float32} (default: the fp32 masters'
 *     own precision) or {@code bfloat16}
 * @param lossScale the {@code fp16} block's loss scaling, or null without one (used when fp16 is on)
 */
public record DeepSpeedConfig(int stage, boolean overlapComm, Long reduceBucketSize, Long prefetchBucketSize,
                              Long paramPersistenceThreshold, long maxLiveParameters, boolean offloadOptimizer,
                              boolean offloadParam, Integer trainBatchSize, String communicationDataType,
                              LossScaleSettings lossScale) implements Serializable {

    /** DeepSpeed's {@code stage3_max_live_parameters} when the config does not set it. */
    public static final long DEFAULT_MAX_LIVE_PARAMETERS = 1_000_000_000L;
    private static final Map<String, ConfigKeys.Key> TOP = new LinkedHashMap<>();
    private static final Map<String, ConfigKeys.Key> ZERO = new LinkedHashMap<>();

    private static void top(String key, ConfigKeys.Kind kind, String note) {
        TOP.put(key, new ConfigKeys.Key(kind, note));
    }

    private static void zero(String key, ConfigKeys.Kind kind, String note) {
        ZERO.put(key, new ConfigKeys.Key(kind, note));
    }

    static {
        ConfigKeys.Kind on = ConfigKeys.Kind.SUPPORTED;
        ConfigKeys.Kind none = ConfigKeys.Kind.NO_EFFECT;
        top("zero_optimization", on, "DeepSpeedConfig.stage");
        top("bf16", on, "checked against bf16");
        top("fp16", on, "enabled checked against fp16; the loss-scale keys drive LossScaleSettings");
        top("gradient_accumulation_steps", on, "checked against gradient_accumulation_steps");
        top("gradient_clipping", on, "checked against max_grad_norm");
        top("train_batch_size", on, "DeepSpeedConfig.checkWorld");
        top("train_micro_batch_size_per_gpu", on, "checked against micro_batch_size");
        top("optimizer", on, "checked against optimizer, learning_rate, adam_beta1/2, adam_epsilon, weight_decay");
        top("scheduler", on, "checked against lr_scheduler, learning_rate, warmup_steps, max_steps");
        top("communication_data_type", on, "DeepSpeedConfig.communicationDataType");
        top("wall_clock_breakdown", none, "use axolotl bench for timings");
        top("compile", none, "torch.compile has no counterpart over libtorch from Java");
        top("steps_per_print", none, "logging follows logging_steps");
        top("zero_allow_untested_optimizer", none, "the partitioned optimizer is this library's AdamW or SGD");
        top("zero_force_ds_cpu_optimizer", none, "the optimizer runs where the partitions live");
        top("prescale_gradients", none, "each rank's loss is already divided by the step's global token count");
        zero("stage", on, "DeepSpeedConfig.stage");
        zero("overlap_comm", on, "DeepSpeedConfig.overlapComm");
        zero("reduce_bucket_size", on, "DeepSpeedConfig.reduceBucketElements");
        zero("stage3_prefetch_bucket_size", on, "DeepSpeedConfig.prefetchElements");
        zero("stage3_param_persistence_threshold", on, "DeepSpeedConfig.persistenceThreshold");
        zero("max_live_parameters", on, "DeepSpeedConfig.maxLiveParameters");
        zero("stage3_max_live_parameters", on, "DeepSpeedConfig.maxLiveParameters");
        zero("offload_optimizer", on, "checked: device cpu is warned about (host memory is where the state "
                + "lives), nvme is refused");
        zero("offload_param", on, "checked: device cpu is warned about, nvme is refused, stage 3 only");
        zero("contiguous_gradients", none, "each gradient bucket is flattened into one buffer for its "
                + "reduce-scatter anyway");
        zero("reduce_scatter", none, "gradients are always reduce-scattered");
        zero("allgather_partitions", none, "partitions are always all-gathered");
        zero("allgather_bucket_size", none, "stages 1-2 refresh each kept parameter with one all-gather");
        zero("sub_group_size", none, "the optimizer steps each partition whole");
        zero("max_reuse_distance", none, "gathered parameters are freed after each use");
        zero("stage3_max_reuse_distance", none, "gathered parameters are freed after each use");
        zero("gather_16bit_weights_on_model_save", none, "the end of training always exports the consolidated "
                + "model (bf16 when bf16 is on), gathered one parameter at a time");
        zero("stage3_gather_16bit_weights_on_model_save", none, "the end of training always exports the "
                + "consolidated model (bf16 when bf16 is on), gathered one parameter at a time");
        zero("round_robin_gradients", none, "gradients are reduce-scattered, not assigned to ranks");
        zero("ignore_unused_parameters", none, "every parameter of the model receives a gradient");
    }

    /** How a top-level DeepSpeed key is treated, or null when unknown. */
    public static ConfigKeys.Key topKey(String key) {
        return TOP.get(key);
    }

    /** How a {@code zero_optimization} key is treated, or null when unknown. */
    public static ConfigKeys.Key zeroKey(String key) {
        return ZERO.get(key);
    }

    /** Every top-level DeepSpeed key this library knows. */
    public static Set<String> topKeys() {
        return Collections.unmodifiableSet(TOP.keySet());
    }

    /** Every {@code zero_optimization} key this library knows. */
    public static Set<String> zeroKeys() {
        return Collections.unmodifiableSet(ZERO.keySet());
    }

    /** The config with bucket sizes resolved for a model of hidden size {@code h}. */
    public long reduceBucketElements(int h) {
        return reduceBucketSize != null ? reduceBucketSize : (long) h * h;
    }

    /** Stage 3 prefetch size for hidden size {@code h}. */
    public long prefetchElements(int h) {
        return prefetchBucketSize != null ? prefetchBucketSize : (long) (0.9 * h * h);
    }

    /** Stage 3 persistence threshold for hidden size {@code h}. */
    public long persistenceThreshold(int h) {
        return paramPersistenceThreshold != null ? paramPersistenceThreshold : 10L * h;
    }

    /** Reads the config a {@code ParallelSettings} names; errors and warnings are appended. */
    public static DeepSpeedConfig read(ParallelSettings p, AxolotlConfig axolotl, List<ConfigError> errors,
                                       List<String> warnings) {
        JsonNode root;
        ObjectMapper json = new ObjectMapper();
        if (p.deepspeedInline() != null) {
            root = json.valueToTree(p.deepspeedInline());
        } else {
            Path file = Path.of(p.deepspeed());
            try {
                root = json.readTree(Files.readString(file));
            } catch (IOException e) {
                errors.add(new ConfigError("deepspeed", "cannot read DeepSpeed config " + file + ": "
                        + e.getMessage().lines().findFirst().orElse("")));
                return null;
            }
        }
        return parse(root, axolotl, errors, warnings);
    }

    static DeepSpeedConfig parse(JsonNode root, AxolotlConfig a, List<ConfigError> errors, List<String> warnings) {
        List<ConfigError> mine = new ArrayList<>();
        List<String> noEffect = new ArrayList<>();
        root.fieldNames().forEachRemaining(k -> {
            ConfigKeys.Key key = TOP.get(k);
            if (key == null) {
                mine.add(new ConfigError("deepspeed." + k, "unknown DeepSpeed key"));
            } else if (key.kind() == ConfigKeys.Kind.NO_EFFECT && asksForSomething(root.get(k))) {
                noEffect.add("deepspeed." + k + " (" + key.note() + ")");
            }
        });
        JsonNode z = root.path("zero_optimization");
        z.fieldNames().forEachRemaining(k -> {
            ConfigKeys.Key key = ZERO.get(k);
            if (key == null) {
                mine.add(new ConfigError("deepspeed.zero_optimization." + k, "unknown or unsupported ZeRO key"));
            } else if (key.kind() == ConfigKeys.Kind.NO_EFFECT && asksForSomething(z.get(k))) {
                noEffect.add("deepspeed.zero_optimization." + k + " (" + key.note() + ")");
            }
        });
        if (!noEffect.isEmpty()) {
            warnings.add("DeepSpeed keys accepted with no effect here: " + String.join("; ", noEffect));
        }
        int stage = z.path("stage").asInt(0);
        if (!z.path("stage").isMissingNode() && (!z.path("stage").canConvertToInt() || stage < 0 || stage > 3)) {
            mine.add(new ConfigError("deepspeed.zero_optimization.stage", "expected 0, 1, 2 or 3, got "
                    + z.path("stage")));
        }
        boolean offOpt = offload(z, "offload_optimizer", mine, warnings);
        boolean offParam = offload(z, "offload_param", mine, warnings);
        if (offParam && stage != 3) {
            mine.add(new ConfigError("deepspeed.zero_optimization.offload_param", "parameter offload needs ZeRO "
                    + "stage 3"));
        }

        TrainingSettings t = a.training();
        matchInt(root, "train_micro_batch_size_per_gpu", t.microBatchSize(), "micro_batch_size", mine);
        matchInt(root, "gradient_accumulation_steps", t.gradientAccumulationSteps(), "gradient_accumulation_steps",
                mine);
        JsonNode clip = root.path("gradient_clipping");
        if (!clip.isMissingNode() && !"auto".equals(clip.asText()) && clip.isNumber()
                && clip.asDouble() != a.optimizer().maxGradNorm()) {
            mine.add(new ConfigError("deepspeed.gradient_clipping", "is " + clip.asDouble() + " but max_grad_norm is "
                    + a.optimizer().maxGradNorm() + "; use \"auto\" or make them equal"));
        }
        matchPrecision(root, "bf16", a.precision().bf16Enabled(), "bf16", mine);
        matchPrecision(root, "fp16", a.precision().fp16(), "fp16", mine);
        Integer tbs = null;
        JsonNode tb = root.path("train_batch_size");
        if (tb.canConvertToInt()) {
            tbs = tb.asInt();
        }
        DeepSpeedBlocks.checkOptimizer(root.path("optimizer"), a, mine);
        DeepSpeedBlocks.checkScheduler(root.path("scheduler"), a, mine);
        String commType = DeepSpeedBlocks.communicationDataType(root.path("communication_data_type"), mine);
        LossScaleSettings lossScale = LossScaleSettings.fromDeepSpeed(root.path("fp16"), mine, warnings);
        errors.addAll(mine);
        if (!mine.isEmpty()) {
            return null;
        }
        long maxLive = z.has("max_live_parameters") ? z.path("max_live_parameters").asLong(DEFAULT_MAX_LIVE_PARAMETERS)
                : z.path("stage3_max_live_parameters").asLong(DEFAULT_MAX_LIVE_PARAMETERS);
        return new DeepSpeedConfig(stage, z.path("overlap_comm").asBoolean(stage >= 2),
                autoLong(z, "reduce_bucket_size"), autoLong(z, "stage3_prefetch_bucket_size"),
                autoLong(z, "stage3_param_persistence_threshold"), maxLive, offOpt, offParam, tbs, commType, lossScale);
    }

    /** False for a value that turns its option off (false, 0, null, {"enabled": false}): no warning is owed. */
    private static boolean asksForSomething(JsonNode v) {
        if (v == null || v.isNull() || (v.isBoolean() && !v.asBoolean()) || (v.isNumber() && v.asDouble() == 0)) {
            return false;
        }
        return !(v.isObject() && v.path("enabled").isBoolean() && !v.path("enabled").asBoolean());
    }

    private static Long autoLong(JsonNode z, String key) {
        JsonNode v = z.path(key);
        return v.isMissingNode() || "auto".equals(v.asText()) ? null : v.asLong();
    }

    private static boolean offload(JsonNode z, String key, List<ConfigError> errors, List<String> warnings) {
        JsonNode o = z.path(key);
        if (o.isMissingNode()) {
            return false;
        }
        String device = o.path("device").asText("none");
        switch (device) {
            case "none":
                return false;
            case "cpu":
                warnings.add("deepspeed.zero_optimization." + key + ".device: cpu is where everything already lives "
                        + "on CPU builds (no effect); on GPU builds the optimizer state stays in host memory");
                return true;
            default:
                errors.add(new ConfigError("deepspeed.zero_optimization." + key + ".device", "'" + device
                        + "' offload is not supported (supported: cpu, none)"));
                return false;
        }
    }

    private static void matchInt(JsonNode root, String key, int axolotl, String axolotlKey, List<ConfigError> errors) {
        JsonNode v = root.path(key);
        if (v.isMissingNode() || "auto".equals(v.asText())) {
            return;
        }
        if (!v.canConvertToInt() || v.asInt() != axolotl) {
            errors.add(new ConfigError("deepspeed." + key, "is " + v + " but " + axolotlKey + " is " + axolotl
                    + "; use \"auto\" or make them equal"));
        }
    }

    private static void matchPrecision(JsonNode root, String key, boolean axolotl, String axolotlKey,
                                       List<ConfigError> errors) {
        JsonNode v = root.path(key).path("enabled");
        if (v.isMissingNode() || "auto".equals(v.asText())) {
            return;
        }
        if (v.isBoolean() && v.asBoolean() != axolotl) {
            errors.add(new ConfigError("deepspeed." + key + ".enabled", "is " + v.asBoolean() + " but " + axolotlKey
                    + " is " + axolotl + "; use \"auto\" or make them agree"));
        }
    }

    /** Checks {@code train_batch_size} against the world: micro batch x accumulation x data-parallel ranks. */
    public void checkWorld(AxolotlConfig a, int dataParallel) {
        if (trainBatchSize == null) {
            return;
        }
        int expected = a.training().microBatchSize() * a.training().gradientAccumulationSteps() * dataParallel;
        if (trainBatchSize != expected) {
            throw new ConfigException("deepspeed.train_batch_size", "is " + trainBatchSize + " but micro_batch_size ("
                    + a.training().microBatchSize() + ") x gradient_accumulation_steps ("
                    + a.training().gradientAccumulationSteps() + ") x data-parallel ranks (" + dataParallel + ") = "
                    + expected);
        }
    }
}
