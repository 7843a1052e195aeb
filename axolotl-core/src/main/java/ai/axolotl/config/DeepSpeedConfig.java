package ai.axolotl.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
 * @param contiguousGradients keep gradient partitions in one buffer
 * @param reduceBucketSize elements per gradient reduce-scatter bucket; null: "auto" (h*h)
 * @param allgatherBucketSize elements per parameter all-gather bucket (stages 1-2)
 * @param prefetchBucketSize stage 3 prefetch size in elements; null: "auto" (0.9*h*h)
 * @param paramPersistenceThreshold stage 3: parameters up to this many elements stay whole; null: "auto" (10*h)
 * @param maxLiveParameters stage 3: most parameter elements gathered at once; prefetching stops before exceeding it
 *     (0, as in Axolotl's zero3 files, turns prefetching off as it does in DeepSpeed; default 1e9)
 * @param gather16bitWeightsOnModelSave consolidate the model on rank 0 when saving
 * @param offloadOptimizer offload_optimizer.device is cpu
 * @param offloadParam offload_param.device is cpu
 * @param trainBatchSize explicit train_batch_size, or null for "auto" (checked against the world at run time)
 */
public record DeepSpeedConfig(int stage, boolean overlapComm, boolean contiguousGradients, Long reduceBucketSize,
                              long allgatherBucketSize, Long prefetchBucketSize, Long paramPersistenceThreshold,
                              long maxLiveParameters, boolean gather16bitWeightsOnModelSave, boolean offloadOptimizer,
                              boolean offloadParam, Integer trainBatchSize) {

    /** DeepSpeed's {@code stage3_max_live_parameters} when the config does not set it. */
    public static final long DEFAULT_MAX_LIVE_PARAMETERS = 1_000_000_000L;
    private static final Set<String> TOP = Set.of("zero_optimization", "bf16", "fp16", "gradient_accumulation_steps",
            "gradient_clipping", "train_batch_size", "train_micro_batch_size_per_gpu", "wall_clock_breakdown",
            "compile", "zero_allow_untested_optimizer", "zero_force_ds_cpu_optimizer", "steps_per_print",
            "optimizer", "scheduler", "prescale_gradients", "communication_data_type");
    private static final Set<String> ZERO = Set.of("stage", "overlap_comm", "contiguous_gradients",
            "reduce_bucket_size", "allgather_bucket_size", "reduce_scatter", "allgather_partitions",
            "stage3_prefetch_bucket_size", "stage3_param_persistence_threshold", "max_live_parameters",
            "stage3_max_live_parameters", "max_reuse_distance", "stage3_max_reuse_distance", "sub_group_size",
            "gather_16bit_weights_on_model_save", "stage3_gather_16bit_weights_on_model_save", "offload_optimizer",
            "offload_param", "round_robin_gradients", "ignore_unused_parameters");

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
        root.fieldNames().forEachRemaining(k -> {
            if (!TOP.contains(k)) {
                mine.add(new ConfigError("deepspeed." + k, "unknown DeepSpeed key"));
            }
        });
        JsonNode z = root.path("zero_optimization");
        z.fieldNames().forEachRemaining(k -> {
            if (!ZERO.contains(k)) {
                mine.add(new ConfigError("deepspeed.zero_optimization." + k, "unknown or unsupported ZeRO key"));
            }
        });
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
        if (root.has("compile") && !root.path("compile").path("disable").asBoolean(false)) {
            warnings.add("deepspeed.compile: torch.compile has no counterpart over libtorch from Java; ignored");
        }
        if (root.path("wall_clock_breakdown").asBoolean(false)) {
            warnings.add("deepspeed.wall_clock_breakdown: use axolotl bench for timings; ignored");
        }
        java.util.List<String> noEffect = new ArrayList<>();
        for (String k : new String[] {"sub_group_size", "max_reuse_distance", "stage3_max_reuse_distance",
            "allgather_bucket_size", "round_robin_gradients"}) {
            if (z.has(k)) {
                noEffect.add(k);
            }
        }
        if (!noEffect.isEmpty()) {
            warnings.add("deepspeed.zero_optimization keys accepted with no effect here: " + noEffect
                    + " (sub_group_size: the optimizer steps each partition whole; reuse distance: gathered parameters"
                    + " are freed after each use; allgather_bucket_size: stages 1-2 refresh each parameter with one"
                    + " all-gather; round_robin_gradients: gradients are reduce-scattered, not assigned to ranks)");
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
        errors.addAll(mine);
        if (!mine.isEmpty()) {
            return null;
        }
        boolean gather = z.path("gather_16bit_weights_on_model_save").asBoolean(
                z.path("stage3_gather_16bit_weights_on_model_save").asBoolean(false));
        long maxLive = z.has("max_live_parameters") ? z.path("max_live_parameters").asLong(DEFAULT_MAX_LIVE_PARAMETERS)
                : z.path("stage3_max_live_parameters").asLong(DEFAULT_MAX_LIVE_PARAMETERS);
        return new DeepSpeedConfig(stage, z.path("overlap_comm").asBoolean(stage >= 2),
                z.path("contiguous_gradients").asBoolean(true), autoLong(z, "reduce_bucket_size"),
                z.path("allgather_bucket_size").asLong(500_000_000L), autoLong(z, "stage3_prefetch_bucket_size"),
                autoLong(z, "stage3_param_persistence_threshold"), maxLive, gather, offOpt, offParam, tbs);
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
