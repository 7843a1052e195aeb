package ai.axolotl.sharding;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Each rank writes only its partition; zero-to-fp32 rebuilds the exported (consolidated) model exactly. */
class ZeroCheckpointTest {
    @Test
    void shardedCheckpointConsolidatesToTheExportedModel(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("model"));
        StrategyTestKit.model(false).write(dir.resolve("model/config.json"));
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            b.append("{\"text\": \"zero checkpoint row ").append(i).append("\"}\n");
        }
        Files.writeString(dir.resolve("data.jsonl"), b.toString());
        Path yml = dir.resolve("c.yml");
        Files.writeString(yml, "base_model: " + dir.resolve("model") + "\nreinit_weights: true\ndatasets:\n"
                + "  - path: " + dir.resolve("data.jsonl") + "\n    type: completion\nsequence_len: 32\n"
                + "micro_batch_size: 1\ngradient_accumulation_steps: 1\nmax_steps: 3\nlearning_rate: 0.01\n"
                + "optimizer: adamw_torch\nsave_steps: 3\noutput_dir: " + dir.resolve("out") + "\n"
                + "deepspeed:\n  zero_optimization:\n    stage: 3\n    gather_16bit_weights_on_model_save: true\n");
        AxolotlConfig c = ConfigLoader.load(yml, Map.of()).config();
        new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create).launch(c, s -> {
            try (Trainer t = new Trainer(c, s, List.of(), 1)) {
                return t.fit();
            }
        });
        Path ckpt = dir.resolve("out/checkpoint-3");
        assertThat(ckpt.resolve("zero/rank0.safetensors")).exists();
        assertThat(ckpt.resolve("zero/rank1.safetensors")).exists();
        assertThat(ckpt.resolve("zero/meta.json")).exists();
        assertThat(ckpt.resolve("model.safetensors")).as("no gathering into the checkpoint").doesNotExist();
        MeshCheckpoint.consolidate(ckpt, dir.resolve("fp32"));
        try (CausalLm a = HfCheckpoint.load(dir.resolve("fp32")); CausalLm e = HfCheckpoint.load(dir.resolve("out"))) {
            for (String n : a.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(a.parameters().get(n), e.parameters().get(n))).as(n).isEqualTo(0.0);
            }
        }
    }
}
