package ai.axolotl.sharding.testkit;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.model.DType;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.WeightSink;
import ai.axolotl.runtime.Device;
import ai.axolotl.train.ShardingStrategy;
import ai.axolotl.train.UnitHooks;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** A strategy that hands every call to another one; tests override what they observe or alter. */
public class ForwardingStrategy implements ShardingStrategy {
    /** The strategy calls go to. */
    protected final ShardingStrategy inner;

    /** Forwards to {@code inner}. */
    public ForwardingStrategy(ShardingStrategy inner) {
        this.inner = inner;
    }

    @Override public String name() { return inner.name(); }
    @Override public int rank() { return inner.rank(); }
    @Override public int worldSize() { return inner.worldSize(); }
    @Override public int dataParallelRank() { return inner.dataParallelRank(); }
    @Override public int dataParallelSize() { return inner.dataParallelSize(); }
    @Override public boolean isMain() { return inner.isMain(); }
    @Override public Device device() { return inner.device(); }
    @Override public boolean rankZeroLoadsWeights() { return inner.rankZeroLoadsWeights(); }
    @Override public CausalLm parallelize(CausalLm model) { return inner.parallelize(model); }
    @Override public void setup(CausalLm model, OptimizerSettings optimizer) { inner.setup(model, optimizer); }
    @Override public UnitHooks hooks() { return inner.hooks(); }
    @Override public double allReduceSum(double value) { return inner.allReduceSum(value); }
    @Override public MicroBatch microBatch(List<PackedRow> rows, int padTo, int padId, int multiple, Device device) {
        return inner.microBatch(rows, padTo, padId, multiple, device);
    }
    @Override public long labelTokens(List<PackedRow> rows, int padTo, int multiple) {
        return inner.labelTokens(rows, padTo, multiple);
    }

    @Override
    public double reduceAndClipGradients(double maxNorm, double gradScale) {
        return inner.reduceAndClipGradients(maxNorm, gradScale);
    }

    @Override public void step(double lr) { inner.step(lr); }
    @Override public void skipStep() { inner.skipStep(); }

    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        inner.saveCheckpoint(dir, includeOptimizer);
    }

    @Override public void loadCheckpoint(Path dir) throws IOException { inner.loadCheckpoint(dir); }
    @Override public void streamFullWeights(WeightSink sink) throws IOException { inner.streamFullWeights(sink); }

    @Override
    public void writeFullModel(Path dir, ModelConfig config, DType dtype) throws IOException {
        inner.writeFullModel(dir, config, dtype);
    }

    @Override public long modelStateBytes() { return inner.modelStateBytes(); }
    @Override public void enableMemoryProbe() { inner.enableMemoryProbe(); }
    @Override public Map<String, Long> memoryPeaks() { return inner.memoryPeaks(); }
    @Override public Map<String, Integer> mesh() { return inner.mesh(); }
    @Override public void barrier() { inner.barrier(); }
    @Override public void preflight(Map<String, String> facts) { inner.preflight(facts); }
    @Override public void agree(String point) { inner.agree(point); }
    @Override public void reportFailure(String message) { inner.reportFailure(message); }
    @Override public void close() { inner.close(); }
}
