package ai.axolotl.sharding.zero;

import ai.axolotl.config.DeepSpeedConfig;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.sharding.ShardingStrategy;
import ai.axolotl.sharding.partition.ShardedParameter;
import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.TrainingException;
import ai.axolotl.train.UnitHooks;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * ZeRO stages 1, 2 and 3 over the data-parallel ranks (DeepSpeed semantics).
 * <ul>
 *   <li>Stage 1: every rank holds the whole model and full gradients; after the last micro-batch the gradients
 *       are reduce-scattered, each rank updates its partition (optimizer state for its partition only) and the
 *       updated partitions are all-gathered into the model.</li>
 *   <li>Stage 2: as stage 1, but each unit's gradients are reduce-scattered as soon as its backward ends (every
 *       micro-batch, overlapped with the rest of backward) and the full gradient is released, so a rank keeps
 *       only its gradient partition.</li>
 *   <li>Stage 3: parameters are partitioned too: a unit's parameters are all-gathered just before its forward
 *       and again before its backward and freed after each; the next unit's gather is started early
 *       (prefetch) so it overlaps compute; parameters of at most {@code stage3_param_persistence_threshold}
 *       elements stay whole. A unit's forward runs without autograd and is recomputed before its backward, so
 *       no saved activation keeps gathered parameters alive.</li>
 * </ul>
 * Gradients are summed over ranks (each rank's loss is already divided by the global token count), clipped by
 * the global norm computed across partitions, and the optimizer is libtorch's over the fp32 shards.
 */
public final class ZeroStrategy extends ShardingStrategy {
    private final int stage;
    private final DeepSpeedConfig ds;
    private LlamaModel model;
    private final Map<String, ShardedParameter> sharded = new LinkedHashMap<>();
    private final Map<String, Boolean> persistent = new HashMap<>();
    private Optimizer optimizer;
    private String optimizerName;
    private boolean stepped;
    private final Deque<ShardedParameter.Reduction> reductions = new ArrayDeque<>();
    private final Map<String, ShardedParameter.Gather> prefetched = new HashMap<>();
    private List<ModelUnit> units;
    private long peakGatheredBytes;
    private long gatheredBytes;

    /**
     * @param stage 1, 2 or 3
     * @param ds the DeepSpeed options
     * @param dataParallel the data-parallel group
     * @param mesh the mesh
     * @param rank global rank
     * @param preflight the runtime's preflight check
     * @param onStep progress callback
     */
    public ZeroStrategy(int stage, DeepSpeedConfig ds, Collectives dataParallel, DeviceMesh mesh, int rank,
                        Consumer<Map<String, String>> preflight, Runnable onStep) {
        super(dataParallel, mesh, rank, preflight, onStep);
        if (stage < 1 || stage > 3) {
            throw new IllegalArgumentException("ZeRO stage must be 1, 2 or 3, got " + stage);
        }
        this.stage = stage;
        this.ds = ds;
    }

    @Override
    public String name() {
        return "zero" + stage;
    }

    /** The stage. */
    public int stage() {
        return stage;
    }

    @Override
    public void setup(LlamaModel model, OptimizerSettings settings) {
        this.model = model;
        this.units = model.units();
        this.optimizerName = settings.optimizer();
        long threshold = ds.persistenceThreshold(model.config().hiddenSize());
        for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
            try (Tensor d = e.getValue().detach()) {
                dataParallel.broadcast(d, 0).await();
            }
            boolean keep = stage < 3 || e.getValue().numel() <= threshold;
            persistent.put(e.getKey(), keep);
            sharded.put(e.getKey(), new ShardedParameter(e.getKey(), e.getValue(), dataParallel.rank(),
                    dataParallel.size(), keep));
        }
        // decay groups follow the full parameters' names and shapes, not the flat shards'
        Map<String, Tensor> decay = new LinkedHashMap<>();
        Map<String, Tensor> noDecay = new LinkedHashMap<>();
        for (ShardedParameter p : sharded.values()) {
            (OptimizerFactory.decays(p.name(), p.param()) ? decay : noDecay).put(p.name(), p.shard());
        }
        this.optimizer = OptimizerFactory.create(settings, decay, noDecay);
        if (stage == 3) {
            for (ShardedParameter p : sharded.values()) {
                if (!persistent.get(p.name())) {
                    p.free();
                }
            }
        }
    }

    @Override
    public UnitHooks hooks() {
        return new UnitHooks() {
            @Override
            public boolean recompute(ModelUnit unit) {
                return stage == 3;
            }

            @Override
            public void beforeForward(ModelUnit unit) {
                if (stage == 3) {
                    gather(unit);
                    prefetch(neighbour(unit, +1));
                }
            }

            @Override
            public void afterForward(ModelUnit unit) {
                if (stage == 3) {
                    release(unit);
                }
            }

            @Override
            public void beforeBackward(ModelUnit unit) {
                if (stage == 3) {
                    gather(unit);
                    prefetch(neighbour(unit, -1));
                }
            }

            @Override
            public void afterBackward(ModelUnit unit, boolean lastMicroStep) {
                if (stage >= 2) {
                    for (String name : unit.parameters().keySet()) {
                        ShardedParameter.Reduction r = sharded.get(name).startReduceScatter(dataParallel);
                        if (r != null) {
                            reductions.add(r);
                        }
                    }
                    // keep one unit's reductions in flight while the next unit computes
                    while (reductions.size() > unit.parameters().size()) {
                        reductions.poll().finish();
                    }
                }
                if (stage == 3) {
                    release(unit);
                }
            }
        };
    }

    private ModelUnit neighbour(ModelUnit unit, int delta) {
        int i = units.indexOf(unit) + delta;
        return i >= 0 && i < units.size() ? units.get(i) : null;
    }

    private void prefetch(ModelUnit unit) {
        if (unit == null || ds.maxLiveParameters() < 0) {
            return;
        }
        for (String name : unit.usedParameters().keySet()) {
            ShardedParameter p = sharded.get(name);
            if (!p.present() && !prefetched.containsKey(name)) {
                prefetched.put(name, p.startGather(dataParallel));
                gatheredBytes += p.numel() * 4;
            }
        }
        peakGatheredBytes = Math.max(peakGatheredBytes, gatheredBytes);
    }

    private void gather(ModelUnit unit) {
        for (String name : unit.usedParameters().keySet()) {
            ShardedParameter p = sharded.get(name);
            if (p.present()) {
                continue;
            }
            ShardedParameter.Gather g = prefetched.remove(name);
            if (g == null) {
                g = p.startGather(dataParallel);
                gatheredBytes += p.numel() * 4;
            }
            p.install(g);
        }
        peakGatheredBytes = Math.max(peakGatheredBytes, gatheredBytes);
    }

    private void release(ModelUnit unit) {
        for (String name : unit.usedParameters().keySet()) {
            ShardedParameter p = sharded.get(name);
            if (!persistent.get(name) && p.present()) {
                p.free();
                gatheredBytes -= p.numel() * 4;
            }
        }
    }

    @Override
    public double reduceAndClipGradients(double maxNorm) {
        if (stage == 1) {
            for (ShardedParameter p : sharded.values()) {
                ShardedParameter.Reduction r = p.startReduceScatter(dataParallel);
                if (r != null) {
                    reductions.add(r);
                }
            }
        }
        while (!reductions.isEmpty()) {
            reductions.poll().finish();
        }
        double sumSq = 0;
        for (ShardedParameter p : sharded.values()) {
            try (Tensor sq = p.shardGrad().mul(p.shardGrad()).sum()) {
                sumSq += sq.item_double();
            }
        }
        double norm = Math.sqrt(dataParallel.allReduceSum(sumSq));
        if (maxNorm > 0) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1.0) {
                for (ShardedParameter p : sharded.values()) {
                    p.shardGrad().mul_(new org.bytedeco.pytorch.Scalar(coef));
                }
            }
        }
        return norm;
    }

    @Override
    public void step(double lr) {
        OptimizerFactory.setLearningRate(optimizer, lr);
        optimizer.step();
        stepped = true;
        for (ShardedParameter p : sharded.values()) {
            p.shardGrad().zero_();
            if (persistent.get(p.name())) {
                p.refreshFromShards(dataParallel);
            }
        }
        stepDone();
    }

    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        ZeroCheckpoint.save(dir, this, includeOptimizer);
    }

    @Override
    public void loadCheckpoint(Path dir) throws IOException {
        ZeroCheckpoint.load(dir, this);
        stepped = true;
        for (ShardedParameter p : sharded.values()) {
            if (persistent.get(p.name())) {
                p.refreshFromShards(dataParallel);
            }
        }
    }

    /** The partitioned parameters by name. */
    Map<String, ShardedParameter> sharded() {
        return sharded;
    }

    /** The optimizer over the shards. */
    Optimizer optimizer() {
        return optimizer;
    }

    /** The model. */
    LlamaModel model() {
        return model;
    }

    /** The data-parallel group. */
    Collectives group() {
        return dataParallel;
    }

    @Override
    public Map<String, Tensor> fullWeights() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (NoGradGuard g = new NoGradGuard()) {
            for (ShardedParameter p : sharded.values()) {
                ShardedParameter.Gather gather = p.startGather(dataParallel);
                gather.work().await();
                try (Tensor full = gather.buffer().narrow(0, 0, p.numel()).view(p.shape())) {
                    out.put(p.name(), full.clone());
                }
                gather.buffer().close();
            }
        }
        if (rank() != 0) {
            out.values().forEach(Tensor::close);
            return null;
        }
        return out;
    }

    /**
     * Model-state bytes this rank holds, counted from its tensors: parameters present in the model, full
     * gradients (stage 1), fp32 shards of parameters and gradients, and AdamW's two moments per shard element.
     */
    @Override
    public long modelStateBytes() {
        long bytes = 0;
        for (ShardedParameter p : sharded.values()) {
            long full = p.numel() * 4;
            long part = p.chunk() * 4;
            if (p.keepsFull()) {
                bytes += p.chunk() * 4 * group().size(); // the padded full parameter; the shard is a view of it
            } else {
                bytes += part; // stage 3: only the fp32 master partition
            }
            bytes += stage == 1 ? full : part; // gradients: full in stage 1, partitions from stage 2
            bytes += stepped && optimizerName.equals("adamw") ? 2 * part : 0;
        }
        return bytes;
    }

    /** The most bytes of gathered (non-persistent) parameters held at once in stage 3. */
    public long peakGatheredBytes() {
        return peakGatheredBytes;
    }

    @Override
    public void close() {
        if (optimizer != null) {
            optimizer.close();
        }
        sharded.values().forEach(ShardedParameter::close);
    }

    static TrainingException sameWorld(Path dir, int saved, int now) {
        return new TrainingException(dir + " was written by " + saved + " data-parallel ranks but this run has " + now
                + "; ZeRO resumes at the same world size (axolotl zero-to-fp32 consolidates it for any other)");
    }

    static List<String> names(Map<String, ShardedParameter> m) {
        return new ArrayList<>(m.keySet());
    }
}
