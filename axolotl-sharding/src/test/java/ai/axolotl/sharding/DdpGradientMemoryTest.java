package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.sharding.ddp.DdpLayer;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainingListener;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Data parallel holds one copy of the gradients: they are views of the buckets the all-reduce runs on, not tensors
 * copied into buckets and back. Measured from the operating system: the peak resident set during steps 2-4 of two
 * thread ranks (read when both finished step 4, before the export) above the resident set after step 1 (both ranks
 * stopped there, gradients released, AdamW's moments made), against the bytes of the gradients the ranks hold. The model has many parameters of moderate size (no
 * tensor above 4 MiB elements, so AdamW's per-tensor temporaries stay small) and the batch is tiny, so gradients
 * dominate what a step adds: about 1.2x the gradient bytes. With a flattened copy per bucket, all of it in flight
 * until the step's last bucket is sent, the two ranks add about 2.2x.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DdpGradientMemoryTest {
    private static AxolotlConfig config(Path dir) throws Exception {
        Files.createDirectories(dir.resolve("model"));
        ModelConfig.llama(4000, 512, 2048, 4, 8, 4, 64, 1e-5, 10000, false, "float32")
                .write(dir.resolve("model/config.json"));
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 32; i++) {
            b.append("{\"text\": \"row ").append(i).append(" counts ").append(i * 7 % 13).append(" apples\"}\n");
        }
        Files.writeString(dir.resolve("data.jsonl"), b.toString());
        Path yml = dir.resolve("c.yml");
        Files.writeString(yml, "base_model: " + dir.resolve("model") + "\nreinit_weights: true\ndatasets:\n"
                + "  - path: " + dir.resolve("data.jsonl") + "\n    type: completion\nsequence_len: 32\n"
                + "micro_batch_size: 1\ngradient_accumulation_steps: 2\nmax_steps: 4\nlearning_rate: 0.001\n"
                + "optimizer: adamw_torch\nsave_strategy: 'no'\nval_set_size: 0\noutput_dir: " + dir.resolve("out")
                + "\n");
        return ConfigLoader.load(yml, Map.of()).config();
    }

    private static void meet(CyclicBarrier barrier) {
        try {
            barrier.await(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("the ranks did not meet", e);
        }
    }

    @Test
    void gradientsAreHeldOnceNotCopiedIntoBuckets(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(ProcessMemory.resetPeakRss(), "this kernel does not allow resetting VmHWM");
        AxolotlConfig c = config(dir);
        CyclicBarrier afterFirstStep = new CyclicBarrier(2, () -> {
            System.gc();
            ProcessMemory.resetPeakRss();
        });
        AtomicLong peak = new AtomicLong();
        CyclicBarrier afterLastStep = new CyclicBarrier(2, () -> peak.set(ProcessMemory.peakRssBytes()));
        AtomicLong base = new AtomicLong();
        AtomicLong gradientBytes = new AtomicLong();
        new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(c, s -> {
            TrainingListener probe = new TrainingListener() {
                @Override
                public void onStep(StepMetrics m) {
                    if (m.step() == 4) { // before the export, whose host copies are not the step's
                        meet(afterLastStep);
                    }
                    if (m.step() != 1) {
                        return;
                    }
                    meet(afterFirstStep);
                    base.compareAndSet(0, ProcessMemory.rssBytes());
                    gradientBytes.addAndGet(StrategyTestKit.layer(s, DdpLayer.class).model().parameters().values()
                            .stream().mapToLong(p -> p.numel() * p.element_size()).sum());
                }
            };
            try (Trainer t = new Trainer(c, s, List.of(probe), 1)) {
                return t.fit();
            }
        });
        long growth = peak.get() - base.get();
        System.out.printf("data parallel, 2 ranks: peak RSS growth in steps 2-4 %d MiB; gradients of both ranks "
                + "%d MiB%n", growth >> 20, gradientBytes.get() >> 20);
        assertThat(growth).as("the gradients are visible at all").isGreaterThan(gradientBytes.get() / 2);
        assertThat((double) growth).as("peak growth (bytes) against the ranks' gradient bytes")
                .isLessThan(1.5 * gradientBytes.get());
    }
}
