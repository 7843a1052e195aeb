package ai.axolotl.config;

import ai.axolotl.train.TrainerBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfigLoaderTest {
    static final String GOOD = """
            base_model: models/tiny
            datasets:
              - path: data/train.jsonl
                type: completion
            sequence_len: 128
            sample_packing: true
            micro_batch_size: 4
            gradient_accumulation_steps: 2
            max_steps: 50
            learning_rate: 2e-4
            lr_scheduler: linear
            warmup_ratio: 0.1
            optimizer: adamw_torch_fused
            seed: 3
            output_dir: out
            """;

    static Path write(Path dir, String yaml) throws Exception {
        Path p = dir.resolve("c.yml");
        Files.writeString(p, yaml);
        return p;
    }

    static List<ConfigError> errorsOf(Path dir, String yaml) throws Exception {
        Path p = write(dir, yaml);
        try {
            ConfigLoader.load(p, Map.of());
        } catch (ConfigException e) {
            return e.errors();
        }
        throw new AssertionError("expected errors for:\n" + yaml);
    }

    @Test
    void yamlAndBuilderGiveEqualConfigs(@TempDir Path dir) throws Exception {
        AxolotlConfig fromYaml = ConfigLoader.load(write(dir, GOOD), Map.of()).config();
        AxolotlConfig fromBuilder = new TrainerBuilder()
                .baseModel("models/tiny").dataset("data/train.jsonl", "completion")
                .sequenceLen(128).samplePacking(true).microBatchSize(4).gradientAccumulationSteps(2)
                .maxSteps(50).learningRate(2e-4).lrScheduler("linear").set("warmup_ratio", 0.1)
                .optimizer("adamw_torch_fused").seed(3).outputDir("out")
                .buildConfig();
        assertThat(fromBuilder).isEqualTo(fromYaml);
        assertThat(fromYaml.optimizer().optimizer()).isEqualTo("adamw");
        assertThat(fromYaml.data().padToSequenceLen()).as("packing implies padding, as in Axolotl").isTrue();
        assertThat(fromYaml.precision().bf16()).isEqualTo("auto");
        assertThat(fromYaml.optimizer().maxGradNorm()).isEqualTo(1.0);
    }

    @Test
    void aConfigSurvivesJavaSerializationSoSparkCanShipItToTasks(@TempDir Path dir) throws Exception {
        String yaml = GOOD + """
                fp16: true
                deepspeed:
                  zero_optimization: {stage: 3, overlap_comm: true}
                  fp16: {enabled: true, initial_scale_power: 12}
                """;
        AxolotlConfig c = ConfigLoader.load(write(dir, yaml), Map.of()).config();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(c);
        }
        Object back;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            back = in.readObject();
        }
        assertThat(back).isEqualTo(c);
        assertThat(((AxolotlConfig) back).parallel().deepSpeedSettings().lossScale().initialScale()).isEqualTo(4096);
    }

    @Test
    void misspeltKeySuggestsTheClosest(@TempDir Path dir) throws Exception {
        List<ConfigError> e = errorsOf(dir, GOOD + "lerning_rate: 1e-3\n");
        assertThat(e).singleElement().satisfies(er -> {
            assertThat(er.key()).isEqualTo("lerning_rate");
            assertThat(er.message()).isEqualTo("unknown key (did you mean 'learning_rate'?)");
        });
    }

    @Test
    void everyProblemIsReportedAtOnceWithItsKeyPath(@TempDir Path dir) throws Exception {
        String bad = GOOD.replace("type: completion", "type: sharegpt")
                .replace("micro_batch_size: 4", "micro_batch_size: -1")
                .replace("sequence_len: 128", "sequence_len: long")
                .replace("warmup_ratio: 0.1", "warmup_ratio: 0.1\nwarmup_steps: 5")
                + "adapter: qlora\n";
        List<ConfigError> e = errorsOf(dir, bad);
        assertThat(e).extracting(ConfigError::key).contains("datasets[0].type", "micro_batch_size",
                "sequence_len", "warmup_ratio", "adapter");
        assertThat(e).filteredOn(er -> er.key().equals("sequence_len")).singleElement()
                .extracting(ConfigError::message).isEqualTo("expected an integer, got 'long'");
        assertThat(e).filteredOn(er -> er.key().equals("adapter")).singleElement()
                .extracting(ConfigError::message).isEqualTo("Require cfg.load_in_4bit to be True for qlora");
        assertThat(e).filteredOn(er -> er.key().equals("micro_batch_size")).singleElement()
                .extracting(ConfigError::message).asString().contains("greater than 0").contains("-1");
        for (ConfigError er : e) {
            assertThat(er.toString()).doesNotContain("\n");
        }
    }

    @Test
    void malformedYamlReportsLineAndColumn(@TempDir Path dir) throws Exception {
        List<ConfigError> e = errorsOf(dir, "base_model: x\ndatasets:\n  - path: [unclosed\n");
        assertThat(e).singleElement().satisfies(er -> {
            assertThat(er.key()).isEqualTo("<file>");
            assertThat(er.message()).matches("malformed YAML at .*c\\.yml:\\d+:\\d+: .*");
        });
    }

    @Test
    void axolotlRulesApply(@TempDir Path dir) throws Exception {
        assertThat(errorsOf(dir, GOOD.replace("gradient_accumulation_steps: 2", "batch_size: 16")
                .replace("micro_batch_size: 4\n", "")))
                .extracting(ConfigError::message).anyMatch(m -> m.contains("at least two of micro_batch_size"));
        assertThat(errorsOf(dir, GOOD + "batch_size: 16\n")).extracting(ConfigError::message)
                .anyMatch(m -> m.contains("only one of gradient_accumulation_steps or batch_size"));
        assertThat(errorsOf(dir, GOOD + "save_strategy: epoch\nsave_steps: 10\n")).extracting(ConfigError::key)
                .contains("save_strategy");
        assertThat(errorsOf(dir, GOOD + "deepspeed: ds.json\nfsdp_config:\n  fsdp_version: 2\n"))
                .extracting(ConfigError::message).anyMatch(m -> m.contains("deepspeed and fsdp cannot be used"));
        assertThat(errorsOf(dir, GOOD + "dp_shard_size: 2\n")).extracting(ConfigError::key)
                .contains("dp_shard_size");
        // SIZE_BASED_WRAP is refused itself (wrapping by min_num_params is not available), so Axolotl's rule that
        // it needs min_num_params never comes into play
        assertThat(errorsOf(dir, GOOD + "fsdp_config:\n  auto_wrap_policy: SIZE_BASED_WRAP\nfsdp_version: 2\n"))
                .singleElement().satisfies(e -> {
                    assertThat(e.key()).isEqualTo("fsdp_config.auto_wrap_policy");
                    assertThat(e.message()).contains("SIZE_BASED_WRAP");
                });
    }

    @Test
    void batchSizeDerivesAccumulation(@TempDir Path dir) throws Exception {
        var loaded = ConfigLoader.load(write(dir, GOOD.replace("gradient_accumulation_steps: 2", "batch_size: 16")),
                Map.of());
        assertThat(loaded.config().training().gradientAccumulationSteps()).isEqualTo(4);
        assertThat(loaded.warnings()).anyMatch(w -> w.contains("batch_size is not recommended"));
    }

    @Test
    void fsdpOneKeysAreMigratedWithWarnings(@TempDir Path dir) throws Exception {
        var loaded = ConfigLoader.load(write(dir, GOOD.replace("sample_packing: true", "sample_packing: false") + """
                fsdp:
                  - full_shard
                  - auto_wrap
                fsdp_config:
                  fsdp_offload_params: true
                  fsdp_transformer_layer_cls_to_wrap: LlamaDecoderLayer
                """), Map.of());
        ParallelSettings p = loaded.config().parallel();
        assertThat(p.fsdpVersion()).isEqualTo(1);
        assertThat(p.fsdpConfig()).containsEntry("offload_params", true)
                .containsEntry("transformer_layer_cls_to_wrap", "LlamaDecoderLayer");
        assertThat(p.fsdpSettings().transformerLayerClsToWrap()).containsExactly("LlamaDecoderLayer");
        assertThat(loaded.warnings()).anyMatch(w -> w.contains("`fsdp_` prefix is deprecated"))
                .anyMatch(w -> w.contains("FSDP1 is deprecated"))
                .anyMatch(w -> w.startsWith("fsdp_config.offload_params has no effect"));
        // sequence_parallel_degree is context_parallel_size's old name: bound to it, with Axolotl's warning
        var cp = ConfigLoader.load(write(dir, GOOD + "sequence_parallel_degree: 2\n"), Map.of());
        assertThat(cp.config().parallel().contextParallelSize()).isEqualTo(2);
        assertThat(cp.warnings()).contains("`sequence_parallel_degree` is deprecated, use `context_parallel_size`");
    }

    @Test
    void overridesAcceptDashesDotsAndTypedValues(@TempDir Path dir) throws Exception {
        var c = ConfigLoader.load(write(dir, GOOD), Map.of("max-steps", "2", "learning_rate", "1e-3",
                "sample-packing", "false", "fsdp_config.reshard_after_forward", "true", "fsdp_version", "2")).config();
        assertThat(c.training().maxSteps()).isEqualTo(2);
        assertThat(c.optimizer().learningRate()).isEqualTo(1e-3);
        assertThat(c.data().samplePacking()).isFalse();
        assertThat(c.parallel().fsdpConfig()).containsEntry("reshard_after_forward", true);
        assertThat(c.parallel().fsdpVersion()).isEqualTo(2);
        assertThatThrownBy(() -> ConfigLoader.load(write(dir, GOOD), Map.of("micro-batch-size", "x")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("micro_batch_size: expected an integer");
    }

    @Test
    void hubIdsAreHubReferencesAndOtherMissingPathsUnresolved(@TempDir Path dir) throws Exception {
        var c = ConfigLoader.load(write(dir, GOOD.replace("models/tiny", "NousResearch/Llama-3.2-1B")), Map.of())
                .config();
        assertThat(ConfigLoader.hubReferences(c)).containsExactly("base_model: NousResearch/Llama-3.2-1B");
        assertThat(ConfigLoader.unresolvedReferences(c)).noneMatch(s -> s.startsWith("base_model"))
                .anyMatch(s -> s.startsWith("datasets[0].path: 'data/train.jsonl' is not a local file"));
    }

    @Test
    void resolvedConfigPrintsAsYaml(@TempDir Path dir) throws Exception {
        String y = ConfigLoader.toYaml(ConfigLoader.load(write(dir, GOOD), Map.of()).config());
        assertThat(y).contains("learning_rate: 2.0E-4").contains("micro_batch_size: 4").contains("base_model: "
                + "models/tiny");
    }
}
