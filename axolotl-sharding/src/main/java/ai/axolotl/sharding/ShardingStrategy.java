package ai.axolotl.sharding;

import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.train.TrainingStrategy;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Base of the multi-rank strategies: what a strategy is given (its collectives and the device mesh) and the
 * parts every one of them shares (rank arithmetic, barrier, scalar sums, the preflight hook). A strategy depends
 * on these interfaces only, never on a launcher or a process-group implementation.
 */
public abstract class ShardingStrategy implements TrainingStrategy {
    /** The group spanning the data-parallel ranks. */
    protected final Collectives dataParallel;
    /** The arrangement of ranks. */
    protected final DeviceMesh mesh;

    @Override
    public Map<String, Integer> mesh() {
        Map<String, Integer> m = new LinkedHashMap<>();
        m.put("dp_replicate", mesh.dpReplicate());
        m.put("dp_shard", mesh.dpShard());
        m.put("cp", mesh.cp());
        m.put("tp", mesh.tp());
        return m;
    }
    private final int rank;
    private final Consumer<Map<String, String>> preflight;
    private final Runnable onStep;

    /**
     * @param dataParallel the data-parallel group
     * @param mesh the mesh
     * @param rank this process's global rank
     * @param preflight checks facts against every other rank (from the runtime)
     * @param onStep called after each optimizer step (progress for the peer monitor)
     */
    protected ShardingStrategy(Collectives dataParallel, DeviceMesh mesh, int rank,
                               Consumer<Map<String, String>> preflight, Runnable onStep) {
        this.dataParallel = dataParallel;
        this.mesh = mesh;
        this.rank = rank;
        this.preflight = preflight;
        this.onStep = onStep;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return mesh.size();
    }

    @Override
    public int dataParallelRank() {
        return mesh.dataParallelRank(rank);
    }

    @Override
    public int dataParallelSize() {
        return mesh.dataParallelSize();
    }

    @Override
    public double allReduceSum(double value) {
        return dataParallel.allReduceSum(value);
    }

    @Override
    public void barrier() {
        dataParallel.barrier();
    }

    @Override
    public void preflight(Map<String, String> facts) {
        preflight.accept(facts);
    }

    /** Reports a completed optimizer step. */
    protected void stepDone() {
        onStep.run();
    }
}
