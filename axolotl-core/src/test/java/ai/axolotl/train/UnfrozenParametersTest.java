package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.testing.TinyRun;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * unfrozen_parameters end to end: only the named parameters move, the export is the whole model (the trained ones
 * streamed, the frozen ones as initialised), and it loads as a plain HF model.
 */
class UnfrozenParametersTest {
    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    @Test
    void onlyTheNamedParametersTrainAndTheExportIsTheWholeModel(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 100);
        Path yml = dir.resolve("unfrozen.yml");
        java.nio.file.Files.writeString(yml, TinyRun.yaml(dir, "unfrozen_parameters: ['model.layers.1.mlp', "
                + "'^lm_head.weight$']\n"));
        TrainResult r = TrainerTest.train(ai.axolotl.config.ConfigLoader.load(yml,
                java.util.Map.of("max_steps", "4")).config());
        assertThat(r.steps()).isEqualTo(4);
        try (CausalLm trained = HfCheckpoint.load(dir.resolve("out"));
             CausalLm initial = DecoderModel.initialise(TinyRun.CONFIG, 7)) {
            for (String name : initial.parameters().keySet()) {
                double diff = Tensors.maxAbsDiff(trained.parameters().get(name), initial.parameters().get(name));
                boolean named = name.startsWith("model.layers.1.mlp.") || name.equals("lm_head.weight");
                if (named) {
                    assertThat(diff).as(name + " trains").isGreaterThan(1e-4);
                } else {
                    assertThat(diff).as(name + " stays frozen").isZero();
                }
            }
        }
    }
}
