package ai.axolotl.train;

import ai.axolotl.config.AxolotlConfig;

import java.util.List;

/**
 * Runs one task per rank, each with the {@link ShardingStrategy} of its rank. The sharding module provides the
 * thread launcher (N ranks as threads of this JVM over real Gloo groups).
 */
public interface RankLauncher {
    /** What each rank runs. */
    @FunctionalInterface
    interface RankTask<T> {
        /** Runs on one rank with that rank's strategy. */
        T run(ShardingStrategy strategy) throws Exception;
    }

    /** Runs {@code task} on every rank and returns the results in rank order; fails if any rank fails. */
    <T> List<T> launch(AxolotlConfig config, RankTask<T> task);
}
