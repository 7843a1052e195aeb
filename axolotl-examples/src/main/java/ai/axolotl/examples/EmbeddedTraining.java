package ai.axolotl.examples;

import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainerBuilder;
import ai.axolotl.train.TrainingListener;

/**
 * The main example's run through {@link TrainerBuilder}, for programs that embed the library. Run from the
 * repository root: {@code java -cp axolotl-examples/target/axolotl.jar ai.axolotl.examples.EmbeddedTraining}.
 */
public final class EmbeddedTraining {
    private EmbeddedTraining() {}

    /** Trains llama-tiny on the shipped corpus and prints the loss every 10 steps. */
    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        TrainingListener printer = new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                if (m.step() % 10 == 0) {
                    System.out.printf("step %d loss %.4f lr %.2e%n", m.step(), m.loss(), m.lr());
                }
            }
        };
        try (Trainer trainer = new TrainerBuilder()
                .baseModel("axolotl-examples/models/llama-tiny").reinitWeights(true)
                .dataset("axolotl-examples/data/tiny-corpus.jsonl", "completion")
                .sequenceLen(256).samplePacking(true)
                .microBatchSize(8).gradientAccumulationSteps(1).maxSteps(steps)
                .optimizer("adamw_torch").learningRate(2e-3).set("adam_beta2", 0.95).weightDecay(0.01)
                .lrScheduler("cosine").warmupSteps(10).seed(42)
                .outputDir("outputs/embedded").saveSteps(Math.max(1, steps / 2)).saveTotalLimit(1)
                .threads(Math.max(1, Runtime.getRuntime().availableProcessors() / 2))
                .listener(printer)
                .build()) {
            TrainResult r = trainer.fit();
            System.out.printf("final loss %.4f after %d steps; model in %s%n", r.finalLoss(), r.steps(),
                    r.outputDir());
        }
    }
}
