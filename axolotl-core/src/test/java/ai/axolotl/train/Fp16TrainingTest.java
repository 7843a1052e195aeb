package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.model.DType;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.Safetensors;
import ai.axolotl.model.WeightSink;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.testing.TinyRun;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * fp16 with dynamic loss scaling, end to end on the CPU: the curve tracks fp32, an overflowing step (gradients
 * made inf or NaN by the strategy below, as an fp16 overflow would) is skipped without touching the weights, the
 * scale halves and training goes on, and a resumed run continues with the checkpoint's scale.
 */
class Fp16TrainingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void fp16TracksTheFp32CurveWithItsScaleInTheMetricsAndExportsFloat16(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        List<Double> fp32 = TrainerTest.train(TrainerTest.config(dir, "max_steps=10",
                "output_dir=" + dir.resolve("fp32"))).losses();
        List<Double> fp16 = TrainerTest.train(TrainerTest.config(dir, "max_steps=10", "fp16=true",
                "output_dir=" + dir.resolve("fp16"))).losses();
        for (int i = 0; i < 10; i++) {
            assertThat(fp16.get(i)).as("step " + (i + 1)).isCloseTo(fp32.get(i), within(1e-2));
        }
        assertThat(fp16.get(9)).isLessThan(fp16.get(0) - 0.5);
        JsonNode last = lastStepLine(dir.resolve("fp16"));
        assertThat(last.get("loss_scale").asDouble()).isEqualTo(65536.0);
        assertThat(last.get("skipped_steps").asLong()).isZero();
        assertThat(JSON.readTree(dir.resolve("fp16/config.json").toFile()).get("torch_dtype").asText())
                .isEqualTo("float16");
        assertThat(Safetensors.entries(dir.resolve("fp16/model.safetensors")).values())
                .allMatch(e -> e.dtype() == DType.F16);
    }

    @Test
    void anOverflowedStepIsSkippedTheScaleHalvesAndTrainingContinues(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        Overflowing s = new Overflowing(Set.of(3, 5));
        TrainResult r;
        try (Trainer t = new Trainer(TrainerTest.config(dir, "max_steps=10", "fp16=true"), s, List.of(), 1)) {
            r = t.fit();
        }
        assertThat(r.steps()).isEqualTo(10);
        assertThat(r.losses()).allMatch(Double::isFinite);
        assertThat(r.losses().get(9)).as("8 applied steps still learn").isLessThan(r.losses().get(0) - 0.3);
        assertThat(s.appliedSteps).containsExactly(1, 2, 4, 6, 7, 8, 9, 10);
        assertThat(s.weightSums.get(3)).as("a skipped step leaves the weights as they were")
                .isEqualTo(s.weightSums.get(2));
        assertThat(s.weightSums.get(5)).isEqualTo(s.weightSums.get(4));
        assertThat(s.weightSums.get(4)).isNotEqualTo(s.weightSums.get(3));
        List<JsonNode> lines = stepLines(dir.resolve("out"));
        assertThat(lines.get(1).get("loss_scale").asDouble()).isEqualTo(65536.0);
        assertThat(lines.get(2).get("loss_scale").asDouble()).isEqualTo(32768.0);
        assertThat(lines.get(4).get("loss_scale").asDouble()).isEqualTo(16384.0);
        assertThat(lines.get(9).get("skipped_steps").asLong()).isEqualTo(2);
    }

    @Test
    void aResumedRunContinuesWithTheCheckpointsScale(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 200);
        String[] base = {"max_steps=8", "save_steps=4", "fp16=true"};
        try (Trainer t = new Trainer(TrainerTest.config(dir, TrainerTest.concat(base, "output_dir=" + dir.resolve("full"))),
                new Overflowing(Set.of(2)), List.of(), 1)) {
            t.fit();
        }
        Trainer[] running = new Trainer[1];
        TrainingListener stopAtFour = new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                if (m.step() == 4) {
                    running[0].stop();
                }
            }
        };
        AxolotlConfig split = TrainerTest.config(dir, TrainerTest.concat(base, "output_dir=" + dir.resolve("split")));
        try (Trainer t = new Trainer(split, new Overflowing(Set.of(2)), List.of(stopAtFour), 1)) {
            running[0] = t;
            t.fit();
        }
        JsonNode state = JSON.readTree(dir.resolve("split/checkpoint-4/trainer_state.json").toFile());
        assertThat(state.get("loss_scaler").get("scale").asDouble()).isEqualTo(32768.0);
        assertThat(state.get("loss_scaler").get("skipped_steps").asLong()).isEqualTo(1);
        TrainerTest.train(TrainerTest.config(dir, TrainerTest.concat(base, "output_dir=" + dir.resolve("split"),
                "resume_from_checkpoint=true")));
        List<JsonNode> lines = stepLines(dir.resolve("split"));
        assertThat(lines.get(lines.size() - 1).get("loss_scale").asDouble()).isEqualTo(32768.0);
        assertThat(lines.get(lines.size() - 1).get("skipped_steps").asLong()).isEqualTo(1);
        try (CausalLm a = HfCheckpoint.load(dir.resolve("full"));
             CausalLm b = HfCheckpoint.load(dir.resolve("split"))) {
            for (String n : a.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(a.parameters().get(n), b.parameters().get(n))).as(n).isZero();
            }
        }
    }

    private static List<JsonNode> stepLines(Path out) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve(MetricsLog.FILE))) {
            JsonNode n = JSON.readTree(line);
            if (n.has("loss")) {
                l.add(n);
            }
        }
        return l;
    }

    private static JsonNode lastStepLine(Path out) throws IOException {
        List<JsonNode> l = stepLines(out);
        return l.get(l.size() - 1);
    }

    /**
     * The single-process strategy, except that on the given steps one gradient is made inf (odd steps) or NaN
     * (even steps) before reduction, as an fp16 overflow would leave it; records which steps were applied and the
     * sum of the weights after each step.
     */
    private static final class Overflowing implements ShardingStrategy {
        private final SingleProcessStrategy inner = new SingleProcessStrategy();
        private final Set<Integer> overflowAt;
        private final List<Integer> appliedSteps = new ArrayList<>();
        private final Map<Integer, Double> weightSums = new HashMap<>();
        private CausalLm model;
        private int step;

        Overflowing(Set<Integer> overflowAt) {
            this.overflowAt = overflowAt;
        }

        @Override
        public void setup(CausalLm m, OptimizerSettings optimizer) {
            model = m;
            inner.setup(m, optimizer);
        }

        @Override
        public double reduceAndClipGradients(double maxNorm, double gradScale) {
            step++;
            if (overflowAt.contains(step)) {
                try (Tensor g = model.parameters().get("model.norm.weight").grad()) {
                    g.fill_(Tensors.scalar(step % 2 == 1 ? Double.POSITIVE_INFINITY : Double.NaN));
                }
            }
            return inner.reduceAndClipGradients(maxNorm, gradScale);
        }

        @Override
        public void step(double lr) {
            inner.step(lr);
            appliedSteps.add(step);
            weightSums.put(step, weightSum());
        }

        @Override
        public void skipStep() {
            inner.skipStep();
            weightSums.put(step, weightSum());
        }

        @Override
        public void loadCheckpoint(Path dir) throws IOException {
            inner.loadCheckpoint(dir);
            step = TrainerState.read(dir).globalStep();
        }

        private double weightSum() {
            double s = 0;
            for (Tensor p : model.parameters().values()) {
                try (Tensor d = p.detach(); Tensor sum = d.sum()) {
                    s += sum.item_double();
                }
            }
            return s;
        }

        @Override public String name() { return inner.name(); }
        @Override public int rank() { return 0; }
        @Override public int worldSize() { return 1; }
        @Override public int dataParallelRank() { return 0; }
        @Override public int dataParallelSize() { return 1; }
        @Override public UnitHooks hooks() { return inner.hooks(); }
        @Override public double allReduceSum(double value) { return value; }
        @Override public void saveCheckpoint(Path dir, boolean opt) throws IOException { inner.saveCheckpoint(dir, opt); }
        @Override public void streamFullWeights(WeightSink sink) throws IOException { inner.streamFullWeights(sink); }
        @Override public long modelStateBytes() { return inner.modelStateBytes(); }
        @Override public void barrier() {}
        @Override public void close() { inner.close(); }
    }
}
