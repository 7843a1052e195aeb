package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.train.Trainer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Gradient accumulation must not raise a rank's peak memory: what one micro-batch makes (activations, unit
 * boundary tensors and their gradients, gathered parameters, gradient buckets) is freed before the next one
 * starts. Measured from the operating system: the peak resident set (VmHWM, reset before each run) above the
 * resident set at the start, for the same global batch rows per micro-batch at accumulation 4 and 1. A
 * micro-batch's activations here are ~100 MB per rank, so keeping them to the step's end would put accumulation
 * 4 about three micro-batches above accumulation 1. The module's tests run with glibc's mmap threshold pinned
 * (see its pom), so freed tensors leave the resident set. The strategies here synchronise at every unit, so the
 * two thread ranks peak together; data parallel ranks only meet at the end of a step, and the combined peak of two
 * thread ranks then depends on their phase: {@code axolotl bench --memory} measures it per rank JVM.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class MicroBatchMemoryTest {
    private static AxolotlConfig config(Path dir, String parallel, int accumulation) throws Exception {
        Files.createDirectories(dir.resolve("model"));
        ModelConfig.llama(300, 256, 512, 4, 4, 2, 1024, 1e-5, 10000, false, "float32")
                .write(dir.resolve("model/config.json"));
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 64; i++) {
            b.append("{\"text\": \"").append(("row " + i + " is long enough to fill a packed sequence. ").repeat(12))
                    .append("\"}\n");
        }
        Files.writeString(dir.resolve("data.jsonl"), b.toString());
        Path yml = dir.resolve("c.yml");
        Files.writeString(yml, "base_model: " + dir.resolve("model") + "\nreinit_weights: true\ndatasets:\n"
                + "  - path: " + dir.resolve("data.jsonl") + "\n    type: completion\nsequence_len: 512\n"
                + "sample_packing: true\npad_to_sequence_len: true\nmicro_batch_size: 2\n"
                + "gradient_accumulation_steps: " + accumulation + "\nmax_steps: 2\nlearning_rate: 0.001\n"
                + "optimizer: adamw_torch\nsave_strategy: 'no'\noutput_dir: " + dir.resolve("out") + "\n" + parallel);
        return ConfigLoader.load(yml, Map.of()).config();
    }

    /** Peak RSS above the RSS at the start, over one 2-step run of two thread ranks. */
    private static long peakGrowth(AxolotlConfig c) {
        System.gc();
        long base = ProcessMemory.rssBytes();
        ProcessMemory.resetPeakRss();
        new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(c, s -> {
            try (Trainer t = new Trainer(c, s, List.of(), 1)) {
                return t.fit();
            }
        });
        return ProcessMemory.peakRssBytes() - base;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"zero3", "fsdp2"})
    void accumulationDoesNotRaiseThePeak(String strategy, @TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(ProcessMemory.resetPeakRss(), "this kernel does not allow resetting VmHWM");
        String parallel = switch (strategy) {
            case "zero3" -> "deepspeed:\n  zero_optimization:\n    stage: 3\n";
            case "fsdp2" -> "fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: true\n"
                    + "  transformer_layer_cls_to_wrap: LlamaDecoderLayer\n";
            default -> throw new IllegalArgumentException(strategy);
        };
        // a first run pays one-time costs (libraries' pages, thread pools, Gloo buffers): not measured
        peakGrowth(config(dir.resolve("warmup"), parallel, 1));
        // then accumulation 4 before 1: memory it leaves with the allocator can only flatter accumulation 1
        long four = peakGrowth(config(dir.resolve("acc4"), parallel, 4));
        long one = peakGrowth(config(dir.resolve("acc1"), parallel, 1));
        System.out.printf("%s: peak RSS growth %d MiB at accumulation 1, %d MiB at accumulation 4%n", strategy,
                one >> 20, four >> 20);
        assertThat(one).as("a micro-batch's memory is visible at all").isGreaterThan(64L << 20);
        assertThat((double) four).as("peak growth at accumulation 4 against 1 (bytes)")
                .isLessThan(1.10 * one);
    }
}
