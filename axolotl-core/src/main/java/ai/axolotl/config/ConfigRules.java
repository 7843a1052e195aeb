package ai.axolotl.config;

import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelConfig;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Axolotl's cross-field rules for the keys this library reads (see the research notes, section b): batch and
 * warmup exclusivity, save/eval consistency, FSDP/DeepSpeed combinations and parallel sizes.
 */
final class ConfigRules {
    private ConfigRules() {}

    static void check(AxolotlConfig c, List<ConfigError> errors, List<String> warnings) {
        SchedulerSettings s = c.scheduler();
        if (s.warmupSteps() != null && s.warmupRatio() != null) {
            errors.add(new ConfigError("warmup_ratio", "warmup_steps and warmup_ratio are mutually exclusive"));
        }
        CheckpointSettings ck = c.checkpoint();
        if (ck.saveStrategy() != null && !"steps".equals(ck.saveStrategy()) && ck.saveSteps() != null) {
            errors.add(new ConfigError("save_strategy", "save_strategy and save_steps mismatch: save_steps needs "
                    + "save_strategy: steps"));
        }
        if (ck.savesPerEpoch() != null && ck.saveSteps() != null) {
            errors.add(new ConfigError("saves_per_epoch", "saves_per_epoch and save_steps are mutually exclusive"));
        }
        DataSettings d = c.data();
        if (d.valSetSize() >= 1 && d.valSetSize() != Math.rint(d.valSetSize())) {
            errors.add(new ConfigError("val_set_size", "expected a fraction below 1 or a whole number of examples, "
                    + "got " + d.valSetSize()));
        }
        TrainingSettings t = c.training();
        if (d.valSetSize() == 0 && t.evalSteps() != null) {
            errors.add(new ConfigError("eval_steps", "eval_steps is set but val_set_size is 0, so there is "
                    + "nothing to evaluate"));
        }
        if (d.valSetSize() == 0 && t.evalsPerEpoch() != null) {
            warnings.add("evals_per_epoch is set but val_set_size is 0: no evaluation will run");
        }
        if (t.evalBatchSize() != t.microBatchSize()) {
            warnings.add("eval_batch_size != micro_batch_size");
        }
        if (d.samplePacking() && !d.padToSequenceLen()) {
            warnings.add("pad_to_sequence_len: false with sample_packing is not recommended");
        }
        if (c.precision().fp16() && c.precision().bf16Enabled()) {
            warnings.add("fp16 is ignored because bf16 is on");
        }
        AdapterSettings a = c.model().adapter();
        if (!a.lora() && !a.unfrozenParameters().isEmpty() && c.parallel().tensorParallelSize() > 1) {
            errors.add(new ConfigError("unfrozen_parameters", "unsupported feature: unfrozen_parameters with "
                    + "tensor_parallel_size > 1 (the export of a partly frozen model gathers only what trains)"));
        }
        checkParallel(c, errors, warnings);
    }

    private static void checkParallel(AxolotlConfig c, List<ConfigError> errors, List<String> warnings) {
        ParallelSettings p = c.parallel();
        if (p.tensorParallelSize() > 1) {
            checkTensorParallel(c, errors, warnings);
        } else if (!p.tensorParallelSequenceParallel()) {
            warnings.add("tensor_parallel_sequence_parallel has no effect: tensor_parallel_size is 1");
        }
        if (p.headsKStride() != null && p.contextParallelSize() <= 1) {
            warnings.add("heads_k_stride has no effect: context_parallel_size is 1");
        }
        if (p.deepspeedEnabled() && p.fsdpEnabled()) {
            errors.add(new ConfigError("deepspeed", "deepspeed and fsdp cannot be used together"));
        }
        if (p.dpShardSize() != null && p.dpShardSize() > 1 && !p.fsdpEnabled() && p.tensorParallelSize() == 1) {
            errors.add(new ConfigError("dp_shard_size", "dp_shard_size was configured without a corresponding "
                    + "fsdp_config; configure FSDP with fsdp_config"));
        }
        // Axolotl's micro_batch_size: 1 rule for packed rows under context parallel comes from ring-flash-attn's
        // one cu_seqlens per call; the mask here is per row, so micro batches of any size are exact (tested)
        if (p.fsdpConfig() != null) {
            // wrap policy, state dict type, reshard and precision values are checked where the block is bound
            Map<String, Object> f = p.fsdpConfig();
            if (Boolean.FALSE.equals(f.get("cpu_offload_pin_memory"))) {
                if (Integer.valueOf(1).equals(p.fsdpVersion())) {
                    errors.add(new ConfigError("fsdp_config.cpu_offload_pin_memory", "FSDP1 does not support "
                            + "disabling cpu_offload_pin_memory; set fsdp_version to 2"));
                } else if (!Boolean.TRUE.equals(f.get("offload_params"))) {
                    errors.add(new ConfigError("fsdp_config.cpu_offload_pin_memory", "disabling "
                            + "cpu_offload_pin_memory requires enabling offload_params"));
                }
            }
        }
    }

    /**
     * Tensor parallel composes with the data-parallel layer the rest of the config selects (DDP, ZeRO 1-3, FSDP2,
     * HSDP). The model's shape is checked when base_model's config.json can be read: tp must divide attention heads,
     * key/value heads, intermediate size and vocabulary.
     */
    private static void checkTensorParallel(AxolotlConfig c, List<ConfigError> errors, List<String> warnings) {
        ParallelSettings p = c.parallel();
        int tp = p.tensorParallelSize();
        if (p.fsdpEnabled() && p.fsdpSettings() != null && p.fsdpSettings().cpuRamEfficientLoading()) {
            warnings.add("fsdp_config.cpu_ram_efficient_loading has no effect with tensor_parallel_size > 1: every "
                    + "rank reads the weights and keeps its tensor-parallel slice before FSDP2 shards it");
        }
        String base = c.model().baseModel();
        if (base == null) {
            return;
        }
        Path json = Path.of(base).resolve(HfCheckpoint.CONFIG);
        if (!Files.isRegularFile(json)) {
            return; // reported where the model is loaded
        }
        List<String> problems;
        try {
            problems = ModelConfig.read(json).tensorParallelProblems(tp);
        } catch (IllegalArgumentException | UncheckedIOException e) {
            return; // an unreadable config.json is reported where the model is loaded
        }
        if (!problems.isEmpty()) {
            errors.add(new ConfigError("tensor_parallel_size", "must divide " + String.join(", ", problems)
                    + " of " + json));
        }
    }
}
