package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A tiny checkpoint of each family in Hugging Face's layout (the golden ones, written by numpy) is a base_model
 * that loads, trains, and exports the same architecture: the exported config.json reads back equal to the
 * base's, with the same parameter names and shapes, and the weights moved.
 */
class FamilyTrainingTest {
    @Test
    void eachFamilysCheckpointTrainsAndExportsTheSameArchitecture(@TempDir Path dir) throws Exception {
        for (String family : List.of("llama", "mistral", "qwen2", "qwen3", "gemma3_text")) {
            Path run = dir.resolve(family);
            TinyRun.write(run, 60);
            Path base = Path.of("src/test/resources/families", family);
            Files.copy(base.resolve(HfCheckpoint.CONFIG), run.resolve("model/config.json"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.copy(base.resolve(HfCheckpoint.WEIGHTS), run.resolve("model/" + HfCheckpoint.WEIGHTS));
            Path yml = run.resolve("run.yml");
            Files.writeString(yml, TinyRun.yaml(run, "max_steps: 4\n").replace("reinit_weights: true\n", ""));
            TrainResult r;
            try (Trainer t = TrainerBuilder.fromYaml(yml).threads(1).build()) {
                r = t.fit();
            }
            assertThat(r.losses()).as(family).hasSize(4).allSatisfy(l -> assertThat(l).isFinite());
            Path out = run.resolve("out");
            ModelConfig exported = ModelConfig.read(out.resolve(HfCheckpoint.CONFIG));
            assertThat(exported).as(family).isEqualTo(ModelConfig.read(base.resolve(HfCheckpoint.CONFIG)));
            try (CausalLm before = HfCheckpoint.load(base); CausalLm after = HfCheckpoint.load(out)) {
                assertThat(after.parameters().keySet()).containsExactlyElementsOf(before.parameters().keySet());
                String q = "model.layers.0.self_attn.q_proj.weight";
                assertThat(after.parameters().get(q).shape()).isEqualTo(before.parameters().get(q).shape());
                assertThat(Tensors.maxAbsDiff(after.parameters().get(q), before.parameters().get(q)))
                        .as(family + ": trained").isGreaterThan(1e-6);
            }
        }
    }
}
