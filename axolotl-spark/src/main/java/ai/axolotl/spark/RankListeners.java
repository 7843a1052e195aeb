package ai.axolotl.spark;

import ai.axolotl.train.TrainingListener;

import java.io.Serializable;
import java.util.List;

/**
 * Makes the listeners a rank's trainer calls inside its Spark task (for instance to log to the executor's own
 * sink). Serialized to every task, so it must not capture driver state.
 */
@FunctionalInterface
public interface RankListeners extends Serializable {
    /**
     * @param rank the task's rank (its partition id)
     * @param stageAttempt the barrier stage's attempt number (0 the first time)
     * @return the listeners for that rank's trainer
     */
    List<TrainingListener> create(int rank, int stageAttempt);
}
