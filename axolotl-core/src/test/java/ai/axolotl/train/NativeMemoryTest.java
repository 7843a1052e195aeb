package ai.axolotl.train;

import ai.axolotl.config.ConfigLoader;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.testing.TinyRun;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A 300-step run's resident memory stays flat after warm-up: every tensor made in a step is released. The module's
 * surefire configuration fixes and pre-touches the Java heap, so growth here is native memory; with a growing
 * heap the first touch of new heap pages shows up as about 50 KiB per step that is not a leak.
 */
class NativeMemoryTest {
    @Test
    void rssStaysFlatOverThreeHundredSteps(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(ProcessMemory.rssBytes() > 0, "needs /proc/self/status");
        ModelConfig shape = ModelConfig.llama(264, 128, 256, 2, 4, 2, 512, 1e-5, 10000, false, "float32");
        TinyRun.write(dir, 400, shape);
        Path yml = dir.resolve("run.yml");
        Files.writeString(yml, TinyRun.yaml(dir, "save_strategy: 'no'\nlogging_steps: 100\n"));
        var config = ConfigLoader.load(yml, Map.of("max_steps", System.getProperty("rss.steps", "300"), "sequence_len", "128",
                "micro_batch_size", "4", "gradient_accumulation_steps", "1")).config();
        List<Long> rss = new ArrayList<>();
        TrainingListener probe = new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                // resident memory outside the Java heap: native tensors, libtorch, metaspace
                rss.add(ProcessMemory.rssBytes() - Runtime.getRuntime().totalMemory());
            }
        };
        try (Trainer t = new Trainer(config, new SingleProcessStrategy(), List.of(probe), 1)) {
            t.fit();
        }
        if (System.getProperty("rss.steps") != null) { for (int i = 0; i < rss.size(); i += 100) System.out.printf("step %d non-heap %.1f MiB%n", i, rss.get(i) / 1048576.0); }
        assertThat(rss).hasSize(Integer.parseInt(System.getProperty("rss.steps", "300")));
        long atWarm = rss.subList(40, 60).stream().mapToLong(Long::longValue).max().orElseThrow();
        long atEnd = rss.subList(280, 300).stream().mapToLong(Long::longValue).max().orElseThrow();
        double growthMb = (atEnd - atWarm) / (1024.0 * 1024.0);
        System.out.printf("non-heap RSS after warm-up %.1f MiB, at the end %.1f MiB, growth %.1f MiB%n",
                atWarm / 1048576.0, atEnd / 1048576.0, growthMb);
        assertThat(growthMb).as("RSS growth from step 60 to 300").isLessThan(8.0);
    }
}
