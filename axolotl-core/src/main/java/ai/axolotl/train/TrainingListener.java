package ai.axolotl.train;

import java.nio.file.Path;

/** Callbacks for programs that embed the trainer. Called on every rank; check the rank if that matters. */
public interface TrainingListener {
    /** After each optimizer step. */
    default void onStep(StepMetrics metrics) {}

    /** After each evaluation. */
    default void onEvaluation(int step, EvalResult result) {}

    /** After a checkpoint was written (main rank). */
    default void onCheckpoint(int step, Path dir) {}

    /** When training finished. */
    default void onTrainEnd(TrainResult result) {}
}
