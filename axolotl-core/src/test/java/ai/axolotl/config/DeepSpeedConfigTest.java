package ai.axolotl.config;

import ai.axolotl.testing.SharedFiles;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

class DeepSpeedConfigTest {
    static final String BASE = ConfigLoaderTest.GOOD;

    static List<ConfigError> errors(Path dir, String extra) throws Exception {
        Path p = ConfigLoaderTest.write(dir, BASE + extra);
        try {
            ConfigLoader.load(p, Map.of());
            return List.of();
        } catch (ConfigException e) {
            return e.errors();
        }
    }

    @Test
    void allEightAxolotlDeepSpeedConfigsLoad(@TempDir Path dir) throws Exception {
        Path shared = SharedFiles.root();
        Assumptions.assumeTrue(shared != null, "shared/axolotl-corpus is not beside this checkout");
        List<Path> files;
        try (Stream<Path> s = Files.list(shared.resolve("axolotl-corpus/deepspeed_configs"))) {
            files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
        assertThat(files).hasSize(8);
        for (Path f : files) {
            String precision = f.getFileName().toString().contains("bf16") ? "bf16: true\n" : "";
            var loaded = ConfigLoader.load(ConfigLoaderTest.write(dir, BASE + precision + "deepspeed: " + f + "\n"),
                    Map.of());
            List<ConfigError> errs = new ArrayList<>();
            DeepSpeedConfig ds = DeepSpeedConfig.read(loaded.config().parallel(), loaded.config(), errs,
                    new ArrayList<>());
            assertThat(errs).as(f.toString()).isEmpty();
            assertThat(ds.stage()).as(f.toString()).isBetween(1, 3);
            if (f.getFileName().toString().contains("compile")) {
                assertThat(loaded.warnings()).anyMatch(w -> w.contains("deepspeed.compile (torch.compile"));
            }
        }
    }

    @Test
    void autoValuesResolveFromTheHiddenSize(@TempDir Path dir) throws Exception {
        var c = ConfigLoader.load(ConfigLoaderTest.write(dir, BASE + "deepspeed:\n  zero_optimization:\n    stage: 3\n"
                + "    reduce_bucket_size: auto\n    stage3_prefetch_bucket_size: auto\n"
                + "    stage3_param_persistence_threshold: auto\n"), Map.of()).config();
        DeepSpeedConfig ds = DeepSpeedConfig.read(c.parallel(), c, new ArrayList<>(), new ArrayList<>());
        assertThat(ds.reduceBucketElements(512)).isEqualTo(512 * 512);
        assertThat(ds.prefetchElements(512)).isEqualTo((long) (0.9 * 512 * 512));
        assertThat(ds.persistenceThreshold(512)).isEqualTo(5120);
    }

    @Test
    void contradictionsNameBothKeysAndUnhonourableOptionsAreRefused(@TempDir Path dir) throws Exception {
        List<ConfigError> e = errors(dir, "deepspeed:\n  zero_optimization:\n    stage: 5\n"
                + "    offload_param:\n      device: nvme\n  gradient_accumulation_steps: 8\n"
                + "  train_micro_batch_size_per_gpu: 2\n  gradient_clipping: 0.5\n  bf16:\n    enabled: true\n");
        assertThat(e).extracting(ConfigError::key).contains("deepspeed.zero_optimization.stage",
                "deepspeed.zero_optimization.offload_param.device", "deepspeed.gradient_accumulation_steps",
                "deepspeed.train_micro_batch_size_per_gpu", "deepspeed.gradient_clipping", "deepspeed.bf16.enabled");
        assertThat(e).filteredOn(x -> x.key().equals("deepspeed.gradient_accumulation_steps")).singleElement()
                .extracting(ConfigError::message).asString().contains("gradient_accumulation_steps is 2");
        assertThat(errors(dir, "deepspeed:\n  zero_optimization:\n    stage: 2\n    bogus_key: 1\n"))
                .extracting(ConfigError::key).contains("deepspeed.zero_optimization.bogus_key");
    }

    @Test
    void trainBatchSizeMustMatchTheWorld(@TempDir Path dir) throws Exception {
        var c = ConfigLoader.load(ConfigLoaderTest.write(dir, BASE + "deepspeed:\n  zero_optimization:\n    stage: 1\n"
                + "  train_batch_size: 16\n"), Map.of()).config();
        DeepSpeedConfig ds = DeepSpeedConfig.read(c.parallel(), c, new ArrayList<>(), new ArrayList<>());
        ds.checkWorld(c, 2);
        Assertions.assertThatThrownBy(() -> ds.checkWorld(c, 4))
                .hasMessageContaining("micro_batch_size (4) x gradient_accumulation_steps (2) x data-parallel ranks (4)");
    }
}
