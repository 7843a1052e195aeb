package ai.axolotl.config;

import ai.axolotl.distributed.Timeouts;
import ai.axolotl.model.ModelConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every key at every level is acted on, warned about naming it, or refused naming the feature: the FSDP block and
 * the DeepSpeed JSON are bound into types once, their values are checked as Axolotl and DeepSpeed check them, and
 * the classification tables hold no key marked acted-on that nothing reads.
 */
class KeyClassificationTest {
    static final String BASE = ConfigLoaderTest.GOOD.replace("sample_packing: true", "sample_packing: false");

    static ConfigLoader.Loaded load(Path dir, String extra) throws Exception {
        return ConfigLoader.load(ConfigLoaderTest.write(dir, BASE + extra), Map.of());
    }

    static List<ConfigError> errors(Path dir, String extra) throws Exception {
        return ConfigLoaderTest.errorsOf(dir, BASE + extra);
    }

    static FsdpSettings fsdp(Path dir, String block) throws Exception {
        return load(dir, "fsdp_version: 2\nfsdp_config:\n" + block).config().parallel().fsdpSettings();
    }

    @Test
    void reshardAfterForwardAcceptsWhatAxolotlAccepts(@TempDir Path dir) throws Exception {
        assertThat(fsdp(dir, "  reshard_after_forward: \"false\"\n").reshardAfterForward()).isFalse();
        assertThat(fsdp(dir, "  reshard_after_forward: \"true\"\n").reshardAfterForward()).isTrue();
        assertThat(fsdp(dir, "  reshard_after_forward: false\n").reshardAfterForward()).isFalse();
        assertThat(fsdp(dir, "  reshard_after_forward: SHARD_GRAD_OP\n").reshardAfterForward()).isFalse();
        assertThat(fsdp(dir, "  reshard_after_forward: FULL_SHARD\n").reshardAfterForward()).isTrue();
        assertThat(fsdp(dir, "  sharding_strategy: SHARD_GRAD_OP\n").reshardAfterForward()).isFalse();
        assertThat(fsdp(dir, "  transformer_layer_cls_to_wrap: LlamaDecoderLayer\n").reshardAfterForward()).isTrue();
        assertThat(errors(dir, "fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: sometimes\n"))
                .singleElement().satisfies(e -> {
                    assertThat(e.key()).isEqualTo("fsdp_config.reshard_after_forward");
                    assertThat(e.message()).contains("'sometimes'");
                });
    }

    @Test
    void mixedPrecisionPolicyAsAMappingIsHonoured(@TempDir Path dir) throws Exception {
        FsdpSettings f = fsdp(dir, "  mixed_precision_policy:\n    param_dtype: bfloat16\n"
                + "    reduce_dtype: bfloat16\n    output_dtype: float32\n");
        assertThat(f.paramDtype()).isEqualTo("bfloat16");
        assertThat(f.reduceDtype()).isEqualTo("bfloat16");
        assertThat(fsdp(dir, "  mixed_precision_policy: bf16\n").bf16Params()).isTrue();
        assertThat(fsdp(dir, "  reshard_after_forward: true\n").paramDtype()).isEqualTo("float32");
        assertThat(errors(dir, "fsdp_version: 2\nfsdp_config:\n  mixed_precision_policy:\n    param_dtype: float16\n"
                + "    output_dtype: bfloat16\n")).extracting(ConfigError::key).containsExactlyInAnyOrder(
                "fsdp_config.mixed_precision_policy.param_dtype", "fsdp_config.mixed_precision_policy.output_dtype");
    }

    @Test
    void fsdpKeysThatCannotActAreRefusedOrWarnedNamingTheKey(@TempDir Path dir) throws Exception {
        assertThat(errors(dir, "fsdp_version: 2\nfsdp_config:\n  auto_wrap_policy: SIZE_BASED_WRAP\n"
                + "  min_num_params: 1000\n")).extracting(ConfigError::key)
                .containsExactlyInAnyOrder("fsdp_config.auto_wrap_policy", "fsdp_config.min_num_params");
        assertThat(errors(dir, "fsdp_version: 2\nfsdp_config:\n  state_dict_type: LOCAL_STATE_DICT\n"))
                .singleElement().extracting(ConfigError::message).asString().contains("LOCAL_STATE_DICT");
        var loaded = load(dir, "fsdp_version: 2\nfsdp_config:\n  offload_params: true\n  backward_prefetch: "
                + "BACKWARD_PRE\n  limit_all_gathers: true\n  use_orig_params: false\n  sync_module_states: true\n");
        assertThat(loaded.warnings()).anyMatch(w -> w.startsWith("fsdp_config.offload_params has no effect"))
                .anyMatch(w -> w.startsWith("fsdp_config.backward_prefetch has no effect"))
                .anyMatch(w -> w.startsWith("fsdp_config.limit_all_gathers has no effect"))
                .anyMatch(w -> w.startsWith("fsdp_config.use_orig_params has no effect"))
                .anyMatch(w -> w.startsWith("fsdp_config.sync_module_states has no effect"));
    }

    @Test
    void contextParallelComposesWithEveryLayerAndTensorParallelComposesWithEveryDataParallelLayer(
            @TempDir Path dir) throws Exception {
        for (String with : new String[] {"", "fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: true\n",
            "deepspeed:\n  zero_optimization:\n    stage: 3\n", "tensor_parallel_size: 2\n"}) {
            assertThat(load(dir, with + "context_parallel_size: 2\n").config().parallel().contextParallelSize())
                    .as(with).isEqualTo(2);
        }
        // Axolotl's micro_batch_size: 1 rule for packed rows (a ring-flash-attn limit) is not imposed
        assertThat(ConfigLoader.load(ConfigLoaderTest.write(dir, ConfigLoaderTest.GOOD + "context_parallel_size: 2\n"),
                Map.of("micro_batch_size", "2")).config().training().microBatchSize()).isEqualTo(2);
        var heads = load(dir, "context_parallel_size: 2\nheads_k_stride: 1\nring_attn_func: batch_ring\n");
        assertThat(heads.config().parallel().headsKStride()).isEqualTo(1);
        assertThat(heads.warnings()).anyMatch(w -> w.startsWith("ring_attn_func: batch_ring runs the same kernel"));
        assertThat(errors(dir, "context_parallel_size: 2\nring_attn_func: zigzag\n")).singleElement()
                .satisfies(e -> assertThat(e.key() + " " + e.message()).isEqualTo(
                        "ring_attn_func expected one of [varlen_llama3, batch_ring], got 'zigzag'"));
        assertThat(load(dir, "heads_k_stride: 2\n").warnings())
                .contains("heads_k_stride has no effect: context_parallel_size is 1");
        assertThat(load(dir, "tensor_parallel_size: 2\n").config().parallel().tensorParallelSize()).isEqualTo(2);
        assertThat(load(dir, "tensor_parallel_size: 2\ndp_shard_size: 2\n").config().parallel().dpShardSize())
                .as("dp_shard without FSDP runs as data parallel under tensor parallel").isEqualTo(2);
        for (String with : new String[] {"fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: true\n",
            "deepspeed:\n  zero_optimization:\n    stage: 3\n", "deepspeed:\n  zero_optimization:\n    stage: 1\n"}) {
            assertThat(load(dir, with + "tensor_parallel_size: 2\n").config().parallel().tensorParallelSize())
                    .as(with).isEqualTo(2);
        }
        assertThat(load(dir, "fsdp_version: 2\nfsdp_config:\n  cpu_ram_efficient_loading: true\n"
                + "tensor_parallel_size: 2\n").warnings())
                .anyMatch(w -> w.startsWith("fsdp_config.cpu_ram_efficient_loading has no effect with "
                        + "tensor_parallel_size > 1"));
        var old = load(dir, "sequence_parallel_degree: 2\n");
        assertThat(old.config().parallel().contextParallelSize()).isEqualTo(2);
        assertThat(old.warnings()).contains("`sequence_parallel_degree` is deprecated, use `context_parallel_size`");
    }

    @Test
    void tensorParallelDegreeMustDivideWhatItSplitsInBaseModel(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("model");
        Files.createDirectories(model);
        // 4 heads, 2 key/value heads, intermediate 48, vocabulary 262
        ModelConfig.llama(262, 32, 48, 2, 4, 2, 256, 1e-5, 10000, false, "float32")
                .write(model.resolve("config.json"));
        Map<String, String> base = Map.of("base_model", model.toString());
        assertThat(ConfigLoader.load(ConfigLoaderTest.write(dir, BASE + "tensor_parallel_size: 2\n"), base)
                .config().parallel().tensorParallelSize()).isEqualTo(2);
        try {
            ConfigLoader.load(ConfigLoaderTest.write(dir, BASE + "tensor_parallel_size: 4\n"), base);
            throw new AssertionError("tp 4 with 2 key/value heads and vocabulary 262 was accepted");
        } catch (ConfigException e) {
            assertThat(e.errors()).singleElement().satisfies(err -> {
                assertThat(err.key()).isEqualTo("tensor_parallel_size");
                assertThat(err.message()).contains("num_key_value_heads (2", "vocab_size (262)")
                        .doesNotContain("num_attention_heads", "intermediate_size");
            });
        }
    }

    @Test
    void sequenceParallelSwitchWarnsWithoutTensorParallel(@TempDir Path dir) throws Exception {
        assertThat(load(dir, "tensor_parallel_sequence_parallel: false\n").warnings())
                .anyMatch(w -> w.contains("tensor_parallel_sequence_parallel has no effect"));
        assertThat(load(dir, "tensor_parallel_size: 2\ntensor_parallel_sequence_parallel: false\n").config()
                .parallel().tensorParallelSequenceParallel()).isFalse();
    }

    @Test
    void fp16TrainsWithLossScalingFromTorchDefaultsOrTheDeepSpeedBlock(@TempDir Path dir) throws Exception {
        var plain = load(dir, "fp16: true\n").config();
        assertThat(plain.precision().fp16()).isTrue();
        assertThat(LossScaleSettings.forConfig(plain)).isEqualTo(LossScaleSettings.TORCH_DEFAULTS);
        assertThat(load(dir, "fp16: true\nbf16: true\n").warnings()).anyMatch(w -> w.contains("fp16 is ignored"));

        var ds = load(dir, "fp16: true\ndeepspeed:\n  zero_optimization:\n    stage: 2\n  fp16:\n"
                + "    enabled: auto\n    loss_scale: 0\n    initial_scale_power: 32\n    loss_scale_window: 1000\n"
                + "    hysteresis: 2\n    min_loss_scale: 1\n    auto_cast: true\n");
        assertThat(LossScaleSettings.forConfig(ds.config()))
                .isEqualTo(new LossScaleSettings(Math.pow(2, 32), 1000, 2, false, 1, true));
        assertThat(ds.warnings()).anyMatch(w -> w.contains("deepspeed.fp16.auto_cast"));
        var fixed = load(dir, "fp16: true\ndeepspeed:\n  fp16:\n    loss_scale: 128\n").config();
        assertThat(LossScaleSettings.forConfig(fixed).dynamic()).isFalse();
        assertThat(LossScaleSettings.forConfig(fixed).initialScale()).isEqualTo(128);

        assertThat(errors(dir, "fp16: true\ndeepspeed:\n  fp16:\n    loss_scale_windw: 10\n"))
                .anyMatch(e -> e.key().equals("deepspeed.fp16.loss_scale_windw") && e.message().contains("unknown"));
        assertThat(errors(dir, "fp16: true\ndeepspeed:\n  fp16:\n    hysteresis: 0\n"))
                .anyMatch(e -> e.key().equals("deepspeed.fp16.hysteresis"));
        assertThat(errors(dir, "fp16: true\ndeepspeed:\n  fp16:\n    enabled: false\n"))
                .anyMatch(e -> e.key().equals("deepspeed.fp16.enabled"));
    }

    @Test
    void deepSpeedIsReadOnceWithItsWarningsAndCommunicationType(@TempDir Path dir) throws Exception {
        var loaded = load(dir, "deepspeed:\n  communication_data_type: bf16\n  steps_per_print: 10\n"
                + "  wall_clock_breakdown: false\n"
                + "  zero_optimization:\n    stage: 2\n    contiguous_gradients: true\n    allgather_bucket_size: 5e8\n");
        DeepSpeedConfig ds = loaded.config().parallel().deepSpeedSettings();
        assertThat(ds).isNotNull();
        assertThat(ds.stage()).isEqualTo(2);
        assertThat(ds.communicationDataType()).isEqualTo("bfloat16");
        assertThat(loaded.warnings()).anyMatch(w -> w.contains("deepspeed.steps_per_print (")
                && w.contains("deepspeed.zero_optimization.contiguous_gradients (")
                && w.contains("deepspeed.zero_optimization.allgather_bucket_size ("))
                .noneMatch(w -> w.contains("wall_clock_breakdown")); // an option turned off asks for nothing
        assertThat(errors(dir, "deepspeed:\n  communication_data_type: fp16\n  zero_optimization:\n    stage: 2\n"))
                .extracting(ConfigError::key).containsExactly("deepspeed.communication_data_type");
    }

    @Test
    void deepSpeedOptimizerAndSchedulerBlocksAreReadLikeDeepSpeed(@TempDir Path dir) throws Exception {
        String auto = "deepspeed:\n  zero_optimization:\n    stage: 2\n  optimizer:\n    type: AdamW\n    params:\n"
                + "      lr: auto\n      betas: auto\n      eps: auto\n      weight_decay: auto\n  scheduler:\n"
                + "    type: WarmupDecayLR\n    params:\n      warmup_min_lr: auto\n      warmup_max_lr: auto\n"
                + "      warmup_num_steps: auto\n      total_num_steps: auto\n";
        assertThat(load(dir, auto).config().parallel().deepSpeedSettings()).isNotNull();
        String explicit = "deepspeed:\n  zero_optimization:\n    stage: 2\n  optimizer:\n    type: AdamW\n    params:\n"
                + "      lr: 0.001\n      betas: [0.8, 0.999]\n  scheduler:\n    type: WarmupCosineLR\n    params:\n"
                + "      warmup_num_steps: 7\n      total_num_steps: 50\n";
        List<ConfigError> e = errors(dir, explicit);
        assertThat(e).extracting(ConfigError::key).containsExactlyInAnyOrder("deepspeed.optimizer.params.lr",
                "deepspeed.optimizer.params.betas[0]", "deepspeed.scheduler.type",
                "deepspeed.scheduler.params.warmup_num_steps");
        assertThat(e).filteredOn(x -> x.key().equals("deepspeed.optimizer.params.lr")).singleElement()
                .extracting(ConfigError::message).asString().contains("learning_rate is 2.0E-4");
        assertThat(e).filteredOn(x -> x.key().equals("deepspeed.scheduler.type")).singleElement()
                .extracting(ConfigError::message).asString().contains("lr_scheduler is linear");
        assertThat(errors(dir, "deepspeed:\n  zero_optimization:\n    stage: 2\n  optimizer:\n    type: Lamb\n"))
                .extracting(ConfigError::key).containsExactly("deepspeed.optimizer.type");
    }

    @Test
    void ddpTimeoutBoundsTheRunAheadOfTheEnvironment(@TempDir Path dir) throws Exception {
        ParallelSettings p = load(dir, "ddp_timeout: 20\n").config().parallel();
        assertThat(Timeouts.forRun(p, Map.of("AXOLOTL_NCCL_TIMEOUT", "99")).toSeconds())
                .isEqualTo(20);
        ParallelSettings unset = load(dir, "").config().parallel();
        assertThat(Timeouts.forRun(unset, Map.of("AXOLOTL_NCCL_TIMEOUT", "99")).toSeconds())
                .isEqualTo(99);
        assertThat(Timeouts.forRun(unset, Map.of()).toSeconds()).isEqualTo(1800);
    }

    /**
     * The classification walk: every key of {@code fsdp_config} and of the DeepSpeed JSON marked acted-on names
     * the typed component that carries it, and that component is read by code outside the config package; every
     * top-level key marked acted-on is read by the binder into the config, not read and dropped.
     */
    @Test
    void noKeyMarkedActedOnIsLeftUnread() throws Exception {
        String mainCode = mainSourcesOutsideConfig();
        List<String> unread = new ArrayList<>();
        List<String> carriers = new ArrayList<>();
        for (String k : ConfigKeys.FSDP_KEYS) {
            ConfigKeys.Key key = ConfigKeys.fsdpKey(k);
            if (key.kind() == ConfigKeys.Kind.SUPPORTED) {
                carriers.add("fsdp_config." + k + " -> " + key.note());
            }
        }
        for (String k : DeepSpeedConfig.topKeys()) {
            ConfigKeys.Key key = DeepSpeedConfig.topKey(k);
            if (key.kind() == ConfigKeys.Kind.SUPPORTED && key.note().startsWith("DeepSpeedConfig.")) {
                carriers.add("deepspeed." + k + " -> " + key.note());
            }
        }
        for (String k : DeepSpeedConfig.zeroKeys()) {
            ConfigKeys.Key key = DeepSpeedConfig.zeroKey(k);
            if (key.kind() == ConfigKeys.Kind.SUPPORTED && key.note().startsWith("DeepSpeedConfig.")) {
                carriers.add("deepspeed.zero_optimization." + k + " -> " + key.note());
            }
        }
        for (String c : carriers) {
            String component = c.substring(c.indexOf("-> ") + 3);
            String method = component.substring(component.indexOf('.') + 1);
            Class<?> type = Class.forName("ai.axolotl.config." + component.substring(0, component.indexOf('.')));
            assertThat(Stream.of(type.getMethods()).map(Method::getName)).as(c).contains(method);
            if (!Pattern.compile("\\." + method + "\\(").matcher(mainCode).find()) {
                unread.add(c);
            }
        }
        String binder = Files.readString(Path.of("src/main/java/ai/axolotl/config/ConfigBinder.java"))
                + Files.readString(Path.of("src/main/java/ai/axolotl/config/AdapterBinder.java"));
        for (String k : ConfigKeys.all()) {
            if (ConfigKeys.lookup(k).kind() != ConfigKeys.Kind.SUPPORTED) {
                continue;
            }
            if (!binder.contains("\"" + k + "\"")) {
                unread.add(k + " (the binder never reads it)");
            } else if (readAndDropped(binder, k)) {
                unread.add(k + " (the binder reads it and drops the value)");
            }
        }
        assertThat(unread).as("keys marked acted-on that nothing reads").isEmpty();
    }

    /** True when a line of the binder is a whole statement {@code r.x("key", ...);} whose value goes nowhere. */
    private static boolean readAndDropped(String binder, String key) {
        for (String line : binder.lines().toList()) {
            String t = line.trim();
            if (t.startsWith("r.") && t.contains("(\"" + key + "\"") && t.endsWith(";")
                    && t.chars().filter(ch -> ch == '(').count() == t.chars().filter(ch -> ch == ')').count()) {
                return true;
            }
        }
        return false;
    }

    private static String mainSourcesOutsideConfig() throws IOException {
        StringBuilder all = new StringBuilder();
        try (Stream<Path> files = Files.walk(Path.of(".."))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java") && p.toString().contains("/src/main/java/")
                    && !p.toString().contains("/ai/axolotl/config/")).toList()) {
                all.append(Files.readString(f)).append('\n');
            }
        }
        return all.toString();
    }
}
