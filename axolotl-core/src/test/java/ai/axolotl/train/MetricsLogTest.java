package ai.axolotl.train;

import ai.axolotl.testing.Console;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The main rank writes metrics.jsonl; local rank 0 prints the step and evaluation lines; another rank of the node
 * (no output directory, not printing) prints neither at the default level, so ranks sharing a console do not repeat
 * every step.
 */
class MetricsLogTest {
    /** What the logger printed while {@code action} ran. */
    private static String console(Runnable action) {
        return Console.capture(action);
    }

    private static void logOneStepAndOneEval(Path dir, boolean console) {
        try (MetricsLog log = new MetricsLog(dir, 10, false, console)) {
            log.logSteps(1, 2.5, 1e-3, 0.7, 1000, 0.1);
            log.logEval(1, new EvalResult(2.25, 40), 0.1);
        }
    }

    @Test
    void oneRankPerNodePrintsTheStepsAndTheMainRankWritesThem(@TempDir Path dir) throws Exception {
        String main = console(() -> logOneStepAndOneEval(dir, true));
        assertThat(main).contains("step 1/10  loss 2.5000").contains("eval at step 1: loss 2.2500");
        List<String> lines = Files.readAllLines(dir.resolve(MetricsLog.FILE));
        assertThat(lines).hasSize(2);
        assertThat(new ObjectMapper().readTree(lines.get(0)).get("loss").asDouble()).isEqualTo(2.5);

        String other = console(() -> logOneStepAndOneEval(null, false));
        assertThat(other).doesNotContain("step 1/10").doesNotContain("eval at step");
    }

    /**
     * A run resumed from an earlier checkpoint than the one the stopped run reached: metrics.jsonl keeps one line
     * per step (before, the stopped run's later steps stayed beside the resumed run's).
     */
    @Test
    void aResumedRunLeavesOneLinePerStep(@TempDir Path dir) throws Exception {
        ai.axolotl.testing.TinyRun.write(dir, 200);
        TrainerTest.train(TrainerTest.config(dir, "max_steps=6", "save_steps=2"));
        Path out = dir.resolve("out");
        TrainerTest.train(TrainerTest.config(dir, "max_steps=6", "save_steps=2",
                "resume_from_checkpoint=" + out.resolve("checkpoint-4")));
        List<Integer> steps = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(out.resolve(MetricsLog.FILE))) {
            var j = new ObjectMapper().readTree(line);
            if (j.has("loss")) {
                steps.add(j.get("step").asInt());
            }
        }
        assertThat(steps).containsExactly(1, 2, 3, 4, 5, 6);
    }
}
