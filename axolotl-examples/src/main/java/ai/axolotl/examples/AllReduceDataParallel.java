package ai.axolotl.examples;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.model.CausalLm;
import ai.axolotl.model.WeightSink;
import ai.axolotl.runtime.Device;
import ai.axolotl.train.ShardingStrategy;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.UnitHooks;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A {@link ShardingStrategy} written as a user would, from the public API only: data parallel the plainest way.
 * Every rank holds the whole model and optimizer (a {@link SingleProcessStrategy} does the local work); after the
 * last micro-batch each gradient is summed over the world in its own all-reduce (the loss is divided by the
 * world's token count, so the sum is the one-process gradient); rank 0 writes checkpoints and every rank reads
 * them. No buckets, no overlap: the built-in DDP does that. It passes the strategy test kit unchanged
 * ({@code AllReduceDataParallelTest}); hand it to {@code TrainerBuilder.strategy(...)} or to a launcher.
 */
public final class AllReduceDataParallel implements ShardingStrategy {
    private final Collectives world;
    private final SingleProcessStrategy local;
    private CausalLm model;

    /**
     * @param world the collectives over every rank (from {@code ProcessGroups.world()})
     * @param device this rank's device
     */
    public AllReduceDataParallel(Collectives world, Device device) {
        this.world = world;
        this.local = new SingleProcessStrategy(device);
    }

    @Override
    public String name() {
        return "allreduce-dp";
    }

    @Override
    public Device device() {
        return local.device();
    }

    @Override
    public int rank() {
        return world.rank();
    }

    @Override
    public int worldSize() {
        return world.size();
    }

    @Override
    public int dataParallelRank() {
        return world.rank();
    }

    @Override
    public int dataParallelSize() {
        return world.size();
    }

    @Override
    public void setup(CausalLm model, OptimizerSettings optimizer) {
        this.model = model;
        local.setup(model, optimizer);
    }

    @Override
    public UnitHooks hooks() {
        return UnitHooks.NONE;
    }

    @Override
    public double allReduceSum(double value) {
        return world.allReduceSum(value);
    }

    /** Sums every gradient over the world, then clips as one process would (the gradients are now the same). */
    @Override
    public double reduceAndClipGradients(double maxNorm, double gradScale) {
        for (Tensor p : model.parameters().values()) {
            try (Tensor g = p.grad()) {
                if (g.defined()) {
                    world.allReduceSum(g).await();
                }
            }
        }
        return local.reduceAndClipGradients(maxNorm, gradScale);
    }

    @Override
    public void step(double lr) {
        local.step(lr);
    }

    @Override
    public void skipStep() {
        local.skipStep();
    }

    /** Rank 0 writes the whole state; the others wait for it. */
    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        if (isMain()) {
            local.saveCheckpoint(dir, includeOptimizer);
        }
        world.barrier();
    }

    @Override
    public void loadCheckpoint(Path dir) throws IOException {
        local.loadCheckpoint(dir);
    }

    @Override
    public void streamFullWeights(WeightSink sink) throws IOException {
        local.streamFullWeights(sink);
    }

    @Override
    public long modelStateBytes() {
        return local.modelStateBytes();
    }

    @Override
    public void barrier() {
        world.barrier();
    }

    @Override
    public void close() {
        local.close();
    }
}
