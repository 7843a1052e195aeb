package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.testing.TinyRun;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class TrainerTest {
    /** The tiny run's YAML with {@code key=value} overrides applied as the CLI would. */
    static AxolotlConfig config(Path dir, String... overrides) throws Exception {
        Path yml = dir.resolve("run.yml");
        Files.writeString(yml, TinyRun.yaml(dir, ""));
        Map<String, String> o = new LinkedHashMap<>();
        for (String kv : overrides) {
            int i = kv.indexOf('=');
            o.put(kv.substring(0, i), kv.substring(i + 1));
        }
        return ConfigLoader.load(yml, o).config();
    }

    static TrainResult train(AxolotlConfig c) {
        try (Trainer t = new Trainer(c, new SingleProcessStrategy(), List.of(), 1)) {
            return t.fit();
        }
    }

    @Test
    void trainsWritesMetricsCheckpointsAndExportsAModel(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        TrainResult r = train(config(dir, "max_steps=12", "save_steps=4", "save_total_limit=2", "val_set_size=0.1"));
        assertThat(r.steps()).isEqualTo(12);
        assertThat(r.losses()).hasSize(12);
        double first = r.losses().get(0);
        assertThat(first).isCloseTo(Math.log(264), within(0.3));
        assertThat(r.finalLoss()).isLessThan(first - 0.5);
        assertThat(r.finalEval()).isNotNull();
        Path out = dir.resolve("out");
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        JsonNode firstLine = new ObjectMapper().readTree(lines.get(0));
        for (String f : new String[] {"step", "loss", "lr", "grad_norm", "tokens_per_s", "epoch", "mfu"}) {
            assertThat(firstLine.has(f)).as(f).isTrue();
        }
        assertThat(firstLine.get("mfu").asDouble()).as("model FLOPs utilization against the measured CPU peak")
                .isGreaterThan(0).isLessThanOrEqualTo(1.0);
        assertThat(lines.stream().filter(l -> l.contains("eval_loss"))).isNotEmpty();
        assertThat(Checkpoints.list(out)).extracting(p -> p.getFileName().toString())
                .containsExactly("checkpoint-8", "checkpoint-12");
        assertThat(out.resolve("checkpoint-12/optimizer.pt")).exists();
        assertThat(out.resolve("checkpoint-12/trainer_state.json")).exists();
        assertThat(out.resolve("model.safetensors")).exists();
        assertThat(out.resolve("tokenizer.json")).exists();
        try (CausalLm m = HfCheckpoint.load(out)) {
            assertThat(m.config()).isEqualTo(TinyRun.CONFIG);
        }
        try (var s = Files.list(out)) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".tmp"));
        }
        // provenance: what trained the checkpoint and the export, with which config and mesh
        JsonNode state = new ObjectMapper().readTree(out.resolve("checkpoint-12/trainer_state.json").toFile());
        JsonNode exported = new ObjectMapper().readTree(out.resolve(Trainer.PROVENANCE_FILE).toFile());
        for (JsonNode p : new JsonNode[] {state.get("provenance"), exported}) {
            assertThat(p.get("library_version").asText()).isNotBlank();
            // built from a git checkout (CI's clone), the build records its commit; from a source tarball, "unknown"
            assertThat(p.get("git_commit").asText()).as("the build records its commit")
                    .matches(Files.exists(Path.of("../.git")) ? "[0-9a-f]{40}(-dirty)?" : "unknown");
            assertThat(p.get("libtorch_bindings").asText()).startsWith("2.");
            assertThat(p.get("java_version").asText()).isEqualTo(System.getProperty("java.version"));
            assertThat(p.get("arch").asText()).isEqualTo(System.getProperty("os.arch"));
        }
        assertThat(state.get("mesh").get("dp_shard").asInt()).isEqualTo(1);
        assertThat(state.get("config").asText()).contains("learning_rate");
        assertThat(exported.get("config").asText()).contains("max_steps: 12");
    }

    @Test
    void resumeContinuesTheUninterruptedLossCurve(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        String[] base = {"max_steps=20", "save_steps=10", "max_grad_norm=0.5"};
        List<Double> full = train(config(dir, concat(base, "output_dir=" + dir.resolve("full")))).losses();

        AxolotlConfig split = config(dir, concat(base, "output_dir=" + dir.resolve("split")));
        Trainer[] running = new Trainer[1];
        TrainingListener stopAtTen = new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                if (m.step() == 10) {
                    running[0].stop();
                }
            }
        };
        try (Trainer t = new Trainer(split, new SingleProcessStrategy(), List.of(stopAtTen), 1)) {
            running[0] = t;
            assertThat(t.fit().steps()).isEqualTo(10);
        }
        assertThat(dir.resolve("split/checkpoint-10")).exists();
        assertThat(dir.resolve("split/model.safetensors")).doesNotExist();

        TrainResult r = train(config(dir, concat(base, "output_dir=" + dir.resolve("split"),
                "resume_from_checkpoint=true")));
        assertThat(r.losses()).hasSize(20);
        for (int i = 0; i < 20; i++) {
            assertThat(r.losses().get(i)).as("step " + (i + 1)).isCloseTo(full.get(i), within(1e-6));
        }
        try (CausalLm a = HfCheckpoint.load(dir.resolve("full"));
             CausalLm b = HfCheckpoint.load(dir.resolve("split"))) {
            for (String n : a.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(a.parameters().get(n), b.parameters().get(n))).as(n)
                        .isLessThanOrEqualTo(1e-6);
            }
        }
    }

    @Test
    void accumulationAndMicroBatchSplitGiveTheSameLoss(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        List<Double> a = train(config(dir, "max_steps=6")).losses();
        List<Double> b = train(config(dir, "max_steps=6", "micro_batch_size=4", "gradient_accumulation_steps=1",
                "output_dir=" + dir.resolve("b"))).losses();
        List<Double> c = train(config(dir, "max_steps=6", "micro_batch_size=1", "gradient_accumulation_steps=4",
                "output_dir=" + dir.resolve("c"))).losses();
        assertThat(a).hasSize(6);
        for (int i = 0; i < 6; i++) {
            assertThat(b.get(i)).as("mbs 4 step " + i).isCloseTo(a.get(i), within(1e-5));
            assertThat(c.get(i)).as("gas 4 step " + i).isCloseTo(a.get(i), within(1e-5));
        }
    }

    static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
