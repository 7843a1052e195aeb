package ai.axolotl.sharding.partition;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.ParameterSpec;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.model.WeightSink;
import ai.axolotl.runtime.HeldTensorBytes;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.DataParallelLayer;
import ai.axolotl.sharding.MeshCheckpoint;
import ai.axolotl.train.optim.LowBitFormat;
import ai.axolotl.train.TrainingException;
import ai.axolotl.train.UnitHooks;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * The engine ZeRO and FSDP2 share: parameters partitioned over the shard group ({@link ShardedParameter}), an
 * optimizer over the fp32 partitions ({@link ShardedOptimizer}), and hooks around each unit that, as the
 * {@link PartitionPlan} says, reduce-scatter gradients as backward proceeds and gather parameters just before a
 * unit runs (prefetching the next unit) and free them after. With partitioned parameters and
 * reshard-after-forward, a unit's gathered parameters are freed in place after its forward and gathered into the
 * same storage again before its backward, which then uses the activations autograd saved in forward: no forward
 * runs twice unless activation checkpointing asks for it. With a replicate group (HSDP) the gradient partitions are
 * also summed across replicas. Gradients are summed (each rank's loss is already divided by the global token
 * count) and clipped by the global norm computed across partitions.
 */
public abstract class PartitionedLayer implements DataParallelLayer {
    private final Collectives dataParallel;
    private final DeviceMesh mesh;
    private final int rank;
    private final PartitionPlan plan;
    private final Collectives shardGroup;
    private final Collectives replicateGroup;
    private CausalLm model;
    private final Map<String, ShardedParameter> sharded = new LinkedHashMap<>();
    private final Map<String, FrozenGroup> frozenGroupOf = new LinkedHashMap<>();
    private final List<FrozenGroup> frozenGroups = new ArrayList<>();
    private final Map<ModelUnit, List<GatheredTensor>> gatheredByUnit = new IdentityHashMap<>();
    private ShardedOptimizer optimizer;
    private boolean placeholderRank;
    private GradientReducer reducer;
    private CommunicationPlan communication;
    private final Map<String, CollectiveWork> prefetched = new HashMap<>();
    private long liveGatheredElements;
    private long prefetchedElements;
    private List<ModelUnit> units;
    private long peakGatheredBytes;
    private long gatheredBytes;
    private long exposedCommNanos;
    private boolean memoryProbe;
    private long peakModelStateBytes;
    private final List<Double> exposedCommMillisPerStep = new ArrayList<>();

    /**
     * @param plan what is partitioned and when
     * @param dataParallel every data-parallel rank (token counts, loss sums)
     * @param shardGroup the ranks the partitions are spread over
     * @param replicateGroup ranks holding the same partition (HSDP), or null
     * @param mesh the mesh
     * @param rank global rank
     */
    protected PartitionedLayer(PartitionPlan plan, Collectives dataParallel, Collectives shardGroup,
                               Collectives replicateGroup, DeviceMesh mesh, int rank) {
        this.dataParallel = dataParallel;
        this.mesh = mesh;
        this.rank = rank;
        this.plan = plan;
        this.shardGroup = shardGroup;
        this.replicateGroup = replicateGroup != null && replicateGroup.size() > 1 ? replicateGroup : null;
    }

    @Override
    public String name() {
        return plan.name();
    }

    /** The plan. */
    public PartitionPlan plan() {
        return plan;
    }

    @Override
    public void setup(CausalLm model, OptimizerSettings settings) {
        this.model = model;
        this.units = model.units();
        this.communication = plan.communication().apply(model.config());
        this.reducer = new GradientReducer(shardGroup, communication.reduceBucketElements(), communication.overlap(),
                communication.reduceType());
        long threshold = plan.persistenceThreshold().applyAsLong(model.config());
        for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
            long[] shape = model.localShape(e.getKey()); // this rank's slice under tensor parallel
            long numel = 1;
            for (long d : shape) {
                numel *= d;
            }
            // every rank starts from rank 0's values; a placeholder receives them one parameter at a time
            boolean placeholder = e.getValue().numel() != numel;
            Tensor source = placeholder
                    ? torch.empty(shape, Tensors.optionsOn(ScalarType.Float, e.getValue()), null)
                    : e.getValue();
            try (Tensor d = source.detach()) {
                dataParallel.broadcast(d, 0).await();
            }
            boolean keep = !plan.partitionParameters() || numel <= threshold;
            LowBitFormat lowBit = LowBitFormat.of(settings.optimizer());
            int align = lowBit != null && lowBit.quantizes(numel) ? LowBitFormat.BLOCK : 1;
            ShardedParameter sp = new ShardedParameter(e.getKey(), e.getValue(), source, shardGroup.rank(),
                    shardGroup.size(), keep, plan.rowAligned(),
                    plan.bf16Gather() ? ScalarType.BFloat16 : ScalarType.Float, align);
            if (placeholder) {
                placeholderRank = true;
                source.close();
            }
            sharded.put(e.getKey(), sp);
        }
        // partitioned parameters start freed (ShardedParameter never fills them); kept ones hold their values
        this.optimizer = new ShardedOptimizer(settings, new ArrayList<>(sharded.values()));
        if (plan.partitionParameters()) {
            partitionFrozen(threshold);
        }
        for (ModelUnit unit : units) {
            gatheredByUnit.put(unit, gatheredBy(unit));
        }
    }

    /**
     * Partitions the frozen base (an adapter's) over the shard group: each unit's frozen tensors above the
     * persistence threshold as one {@link FrozenGroup} of raw bytes (one gather per unit; NF4 codes and fp32 alike),
     * a tied tensor in the group of the first unit that reads it; every rank keeps its part of the copy it loaded.
     */
    private void partitionFrozen(long threshold) {
        for (ModelUnit unit : units) {
            Map<String, Tensor> members = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : unit.frozenTensors().entrySet()) {
                Tensor t = e.getValue();
                if (!frozenGroupOf.containsKey(e.getKey()) && t.numel() > threshold && t.numel() > 0) {
                    members.put(e.getKey(), t);
                }
            }
            if (!members.isEmpty()) {
                FrozenGroup g = new FrozenGroup("frozen:" + unit.name(), members, shardGroup.rank(),
                        shardGroup.size());
                frozenGroups.add(g);
                members.keySet().forEach(n -> frozenGroupOf.put(n, g));
            }
        }
    }

    /** What a unit reads that is gathered around it (worked out once in setup, read by every hook). */
    private List<GatheredTensor> gathered(ModelUnit unit) {
        List<GatheredTensor> g = gatheredByUnit.get(unit);
        if (g == null) {
            throw new IllegalStateException("unit " + unit.name() + " is not one of the model this layer set up");
        }
        return g;
    }

    /** A unit's used parameters, then the groups of its frozen tensors. */
    private List<GatheredTensor> gatheredBy(ModelUnit unit) {
        List<GatheredTensor> out = new ArrayList<>();
        for (String name : unit.usedParameters().keySet()) {
            out.add(sharded.get(name));
        }
        for (String name : unit.frozenTensors().keySet()) {
            FrozenGroup g = frozenGroupOf.get(name);
            if (g != null && !out.contains(g)) {
                out.add(g);
            }
        }
        return List.copyOf(out);
    }

    @Override
    public UnitHooks hooks() {
        return new UnitHooks() {
            @Override
            public void beforeForward(ModelUnit unit) {
                if (plan.partitionParameters()) {
                    gather(unit);
                    prefetchAfter(unit, +1);
                }
            }

            @Override
            public void afterForward(ModelUnit unit) {
                if (plan.partitionParameters() && plan.reshardAfterForward()) {
                    release(unit);
                }
            }

            @Override
            public void afterEvaluationForward(ModelUnit unit) {
                if (plan.partitionParameters()) {
                    release(unit);
                }
            }

            @Override
            public void beforeBackward(ModelUnit unit) {
                if (plan.partitionParameters()) {
                    gather(unit);
                    prefetchAfter(unit, -1);
                }
            }

            @Override
            public void afterBackward(ModelUnit unit, boolean lastMicroStep) {
                if (memoryProbe && lastMicroStep) {
                    sampleModelState(); // this unit's full gradients are still held here
                }
                // stage 1 keeps full gradients over the micro-batches and reduces them in the last one
                if (plan.partitionGradients() || lastMicroStep) {
                    List<ShardedParameter> ps = new ArrayList<>();
                    for (String name : unit.parameters().keySet()) {
                        ps.add(sharded.get(name));
                    }
                    reducer.add(ps);
                    if (unit == units.get(0)) {
                        // the micro-batch's backward is over: wait for its last reductions here (as FSDP2 does at
                        // the end of backward), so no bucket lives on among the next micro-batch's activations
                        reducer.finishAll();
                    }
                    exposedCommNanos += reducer.takeWaitedNanos();
                }
                if (plan.partitionParameters()) {
                    release(unit);
                }
            }
        };
    }

    /**
     * Starts gathers ahead of {@code unit} in execution order ({@code direction} +1 in forward, -1 in backward):
     * the whole next unit (FSDP2), or parameter by parameter through the following units while the prefetched
     * elements stay within the prefetch bucket and the live gathered elements within the live limit (ZeRO-3).
     */
    private void prefetchAfter(ModelUnit unit, int direction) {
        int first = units.indexOf(unit) + direction;
        if (communication.prefetchElements() < 0) {
            if (first >= 0 && first < units.size()) {
                for (GatheredTensor p : gathered(units.get(first))) {
                    startPrefetch(p);
                }
            }
            return;
        }
        for (int i = first; i >= 0 && i < units.size(); i += direction) {
            for (GatheredTensor p : gathered(units.get(i))) {
                if (p.present() || prefetched.containsKey(p.name())) {
                    continue;
                }
                if (prefetchedElements + p.numel() > communication.prefetchElements()
                        || liveGatheredElements + p.numel() > communication.maxLiveElements()) {
                    return;
                }
                startPrefetch(p);
            }
        }
    }

    private void startPrefetch(GatheredTensor p) {
        if (p.present() || prefetched.containsKey(p.name())) {
            return;
        }
        prefetched.put(p.name(), startGather(p));
        prefetchedElements += p.numel();
    }

    private CollectiveWork startGather(GatheredTensor p) {
        CollectiveWork w = p.startGather(shardGroup);
        gatheredBytes += p.heldGatheredBytes();
        liveGatheredElements += p.numel();
        peakGatheredBytes = Math.max(peakGatheredBytes, gatheredBytes);
        return w;
    }

    private void gather(ModelUnit unit) {
        for (GatheredTensor p : gathered(unit)) {
            if (p.present()) {
                continue;
            }
            CollectiveWork g = prefetched.remove(p.name());
            if (g == null) {
                g = startGather(p);
            } else {
                prefetchedElements -= p.numel();
            }
            long t0 = System.nanoTime();
            p.install(g);
            exposedCommNanos += System.nanoTime() - t0;
        }
        peakGatheredBytes = Math.max(peakGatheredBytes, gatheredBytes);
    }

    private void release(ModelUnit unit) {
        for (GatheredTensor p : gathered(unit)) {
            if (!p.keepsFull() && p.present()) {
                freeGathered(p);
            }
        }
    }

    private void freeGathered(GatheredTensor p) {
        gatheredBytes -= p.heldGatheredBytes();
        liveGatheredElements -= p.numel();
        p.free();
    }

    /** Waits for every gradient bucket (and, with HSDP, sums the partitions across replicas). */
    @Override
    public void finishGradientReduction() {
        if (memoryProbe) {
            sampleModelState();
        }
        long t0 = System.nanoTime();
        reducer.finishAll();
        if (replicateGroup != null) {
            sumAcrossReplicas();
        }
        exposedCommNanos += System.nanoTime() - t0;
    }

    /** Each rank squares its gradient partitions; the sum runs over the shard group. */
    @Override
    public double gradientSquares(ToDoubleFunction<String> weight) {
        double sumSq = 0;
        for (ShardedParameter p : sharded.values()) {
            try (Tensor sq = p.shardGrad().mul(p.shardGrad()).sum()) {
                sumSq += weight.applyAsDouble(p.name()) * sq.item_double();
            }
        }
        return shardGroup.allReduceSum(sumSq);
    }

    @Override
    public void scaleGradients(double coefficient) {
        for (ShardedParameter p : sharded.values()) {
            p.shardGrad().mul_(Tensors.scalar(coefficient));
        }
    }

    @Override
    public boolean reducesGradientsEveryMicroBatch() {
        return plan.partitionGradients();
    }

    private void sumAcrossReplicas() {
        List<ShardedParameter> ps = new ArrayList<>(sharded.values());
        Tensor[] parts = new Tensor[ps.size()];
        for (int i = 0; i < parts.length; i++) {
            parts[i] = ps.get(i).shardGrad();
        }
        try (TensorVector v = new TensorVector(parts); Tensor flat = torch.cat(v, 0)) {
            replicateGroup.allReduceSum(flat).await();
            long off = 0;
            for (ShardedParameter p : ps) {
                try (Tensor part = flat.narrow(0, off, p.chunk())) {
                    p.shardGrad().copy_(part);
                }
                off += p.chunk();
            }
        }
    }

    @Override
    public void step(double lr) {
        optimizer.step(lr);
        clearGradients();
    }

    @Override
    public void skipStep() {
        clearGradients();
    }

    /** Zeroes the gradient partitions and refreshes or frees the gathered copies: the end of every step. */
    private void clearGradients() {
        long t0 = System.nanoTime();
        for (ShardedParameter p : sharded.values()) {
            p.shardGrad().zero_();
            if (p.keepsFull()) {
                p.refreshFromShards(shardGroup);
            } else if (p.present()) {
                // a gathered copy would now be stale; the next use gathers the updated partitions
                freeGathered(p);
            }
        }
        exposedCommNanos += System.nanoTime() - t0;
        exposedCommMillisPerStep.add(exposedCommNanos / 1e6);
        exposedCommNanos = 0;
    }

    /**
     * Milliseconds each step spent blocked on communication (waiting for a gather, a reduction or the
     * post-step refresh) rather than computing, in step order.
     */
    public List<Double> exposedCommMillisPerStep() {
        return List.copyOf(exposedCommMillisPerStep);
    }

    /** False unless a subclass's config asks for the consolidated model in checkpoints (FULL_STATE_DICT). */
    @Override
    public boolean checkpointHoldsFullModel() {
        return false;
    }

    /** This rank's partitions, as {@link #saveState}: the layout is the same at the top of a checkpoint. */
    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        saveState(dir, includeOptimizer);
    }

    /** This rank's partitions (the first replica's, under HSDP) in the plan's sub-directory of {@code dir}. */
    @Override
    public void saveState(Path dir, boolean includeOptimizer) throws IOException {
        PartitionCheckpoint.save(dir, this, includeOptimizer);
    }

    /**
     * Its own layout (at any world size) is read by byte range; a checkpoint of another mesh (tensor parallel), of
     * the other partitioned strategy (ZeRO / FSDP2), of DDP or of one process is cut from whole tensors
     * ({@link MeshCheckpoint}).
     */
    @Override
    public void loadCheckpoint(Path dir) throws IOException {
        if (MeshCheckpoint.savedTensorParallel(dir) == 1 && canLoadState(dir)) {
            loadState(dir);
        } else {
            try (MeshCheckpoint other = MeshCheckpoint.open(dir, 0, 1)) {
                loadFrom(other);
            }
        }
    }

    @Override
    public boolean canLoadState(Path dir) {
        return Files.isRegularFile(dir.resolve(plan.checkpointDir()).resolve("meta.json"));
    }

    @Override
    public void loadState(Path dir) throws IOException {
        PartitionCheckpoint.load(dir, this);
        refreshKeptParameters();
    }

    @Override
    public void loadFrom(MeshCheckpoint checkpoint) throws IOException {
        checkpoint.requireOptimizer();
        if (optimizer.lowBit() != null) {
            throw new TrainingException("resume_from_checkpoint: the checkpoint was written by "
                    + checkpoint.describe() + "; moving a low-bit optimizer's state between layouts is not built "
                    + "(resume it with the strategy that wrote it, at any world size)");
        }
        try (NoGradGuard g = new NoGradGuard()) {
            for (ShardedParameter p : sharded.values()) {
                ParameterSpec global = model.spec(p.name());
                fillPartition(checkpoint, "param", p, global, p.shard());
                if (optimizer.expAvg(p.name()) != null) {
                    fillPartition(checkpoint, "exp_avg", p, global, optimizer.expAvg(p.name()));
                    fillPartition(checkpoint, "exp_avg_sq", p, global, optimizer.expAvgSq(p.name()));
                }
            }
        }
        optimizer.setSteps(checkpoint.optimizerSteps());
        refreshKeptParameters();
    }

    /** Copies this rank's partition of the saved tensor (as this rank's model holds it) into {@code into}. */
    private void fillPartition(MeshCheckpoint checkpoint, String kind, ShardedParameter p, ParameterSpec global,
                               Tensor into) throws IOException {
        try (Tensor whole = checkpoint.read(kind, global, p.shape()); Tensor flat = whole.reshape(-1);
             Tensor dst = into.detach()) {
            dst.zero_();
            long start = Math.min(p.numel(), shardGroup.rank() * p.chunk());
            long len = Math.min(p.numel(), start + p.chunk()) - start;
            if (len > 0) {
                try (Tensor part = flat.narrow(0, start, len); Tensor to = dst.narrow(0, 0, len)) {
                    to.copy_(part);
                }
            }
        }
    }

    private void refreshKeptParameters() {
        for (ShardedParameter p : sharded.values()) {
            if (p.keepsFull()) {
                p.refreshFromShards(shardGroup);
            }
        }
    }

    /**
     * This rank's index among the ranks its gradients add up with (data-parallel and cp): 0 on the one rank of each
     * tensor-parallel slice that writes shared files.
     */
    public int dataParallelRank() {
        return mesh.gradientRank(rank);
    }

    /** The partitioned parameters by name. */
    public Map<String, ShardedParameter> sharded() {
        return sharded;
    }

    /** The optimizer over the partitions. */
    public ShardedOptimizer optimizer() {
        return optimizer;
    }

    /** The model. */
    @Override
    public CausalLm model() {
        return model;
    }

    /** The group the partitions are spread over. */
    public Collectives shardGroup() {
        return shardGroup;
    }

    /** True on the ranks that write partitions (the first replica). */
    public boolean writesPartitions() {
        return replicateGroup == null || replicateGroup.rank() == 0;
    }

    @Override
    public void streamWeights(WeightSink sink) throws IOException {
        try (NoGradGuard g = new NoGradGuard()) {
            for (ShardedParameter p : sharded.values()) {
                try (Tensor full = p.gatherCopy(shardGroup)) {
                    // rank 0, or under tensor parallel the first data-parallel rank of every slice
                    if (dataParallelRank() == 0) {
                        sink.accept(p.name(), full);
                    }
                }
            }
        }
    }

    /** Frozen tensors it partitions are gathered one at a time; those it keeps whole are handed over as held. */
    @Override
    public void streamFrozenWeights(WeightSink sink) throws IOException {
        Map<String, Tensor> frozenParameters = model.frozenParameters();
        // in the model's order (the writer expects it): a group is gathered once, when its first member comes up,
        // and each member's copy is closed as soon as it is handed over
        Map<String, Tensor> gatheredCopies = new LinkedHashMap<>();
        try (NoGradGuard g = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : frozenParameters.entrySet()) {
                FrozenGroup group = frozenGroupOf.get(e.getKey());
                if (group == null) {
                    sink.accept(e.getKey(), e.getValue());
                    continue;
                }
                if (!gatheredCopies.containsKey(e.getKey())) {
                    for (Map.Entry<String, Tensor> c : group.gatherCopies(shardGroup).entrySet()) {
                        if (frozenParameters.containsKey(c.getKey())) {
                            gatheredCopies.put(c.getKey(), c.getValue());
                        } else {
                            c.getValue().close();
                        }
                    }
                }
                try (Tensor full = gatheredCopies.remove(e.getKey())) {
                    sink.accept(e.getKey(), full);
                }
            }
        } finally {
            gatheredCopies.values().forEach(Tensor::close);
        }
    }

    /** The frozen tensors as the model holds them now (freed ones count nothing) plus this rank's frozen parts. */
    @Override
    public long frozenBytesHeld() {
        long shards = 0;
        for (FrozenGroup g : frozenGroups) {
            shards += g.shardBytes();
        }
        return model.frozenBytesHeld() + shards;
    }

    /** The frozen tensors partitioned over the shard group, by the name their unit gives them. */
    public Set<String> partitionedFrozenTensors() {
        return Collections.unmodifiableSet(frozenGroupOf.keySet());
    }

    /**
     * Model-state bytes this rank holds now, read from the storages of its tensors (each storage once): parameters
     * kept whole, full gradients still in the parameters, the fp32 master and gradient partitions, and the
     * optimizer's moments. Gathered copies of partitioned parameters are working memory, not model state: see
     * {@link #peakGatheredBytes()}.
     */
    @Override
    public long modelStateBytes() {
        HeldTensorBytes held = new HeldTensorBytes();
        for (ShardedParameter p : sharded.values()) {
            if (p.keepsFull()) {
                held.add(p.param());
            }
            held.add(p.shard()).add(p.shardGrad());
            try (Tensor g = p.param().grad()) {
                held.add(g);
            }
        }
        optimizer.stateTensors().forEach(held::add);
        return held.total();
    }

    /**
     * Turns on the memory probe: the held model-state bytes are then read after every unit's backward on the last
     * micro-batch and before the gradient reduction completes, and the peak is kept ({@link #peakModelStateBytes}).
     * Costs a walk over the parameters per unit, so it is for tests and benchmarks.
     */
    @Override
    public void enableMemoryProbe() {
        memoryProbe = true;
    }

    @Override
    public Map<String, Long> memoryPeaks() {
        if (!memoryProbe) {
            return Map.of();
        }
        Map<String, Long> peaks = new LinkedHashMap<>();
        peaks.put("peak_model_state_bytes", peakModelStateBytes);
        peaks.put("peak_gathered_bytes", peakGatheredBytes);
        return peaks;
    }

    /** The most model-state bytes the probe saw held at once (0 without {@link #enableMemoryProbe}). */
    public long peakModelStateBytes() {
        return peakModelStateBytes;
    }

    private void sampleModelState() {
        peakModelStateBytes = Math.max(peakModelStateBytes, modelStateBytes());
    }

    /** True when this rank never held the full model: it received its partitions from rank 0. */
    public boolean receivedPartitionsFromRankZero() {
        return placeholderRank;
    }

    /** Gradient buckets launched so far (reduce-scatters of gradient partitions). */
    public long gradientBucketsLaunched() {
        return reducer.bucketsLaunched();
    }

    /** Gradient buckets whose reduce-scatter is in flight now (their tensors held). */
    public int gradientBucketsInFlight() {
        return reducer.inFlight();
    }

    /** The most gradient buckets that were in flight at once (0 without overlap_comm). */
    public int mostGradientBucketsInFlight() {
        return reducer.mostInFlight();
    }

    /**
     * The most bytes of gathered (non-persistent) parameters held at once, read from their storages as gathers
     * start and frees happen.
     */
    public long peakGatheredBytes() {
        return peakGatheredBytes;
    }

    @Override
    public void close() {
        if (optimizer != null) {
            optimizer.close();
        }
        sharded.values().forEach(ShardedParameter::close);
        frozenGroups.forEach(FrozenGroup::close);
    }

}
