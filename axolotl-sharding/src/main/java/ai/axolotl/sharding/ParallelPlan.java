package ai.axolotl.sharding;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.distributed.Peers;
import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.sharding.cp.ContextParallelism;
import ai.axolotl.model.DType;
import ai.axolotl.model.WeightSink;
import ai.axolotl.runtime.Device;
import ai.axolotl.train.GradientClipping;
import ai.axolotl.train.ShardingStrategy;
import ai.axolotl.train.UnitHooks;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The {@link ShardingStrategy} of runs over process groups: one plan per rank that applies the parallelisms in a
 * fixed order and does, once, everything that is not a single parallelism's concern. Order: the
 * {@link ModelParallelLayer} first (tensor parallel slices the model), then {@link ContextParallelism} (the
 * attention kernel and the micro-batch cut; no weights sliced), then the {@link DataParallelLayer} (DDP, ZeRO 1-3,
 * FSDP2 / HSDP) over the data-parallel ranks and the cp ranks, which places what the model parallelism left on
 * this rank. Activation checkpointing is the trainer's ({@code gradient_checkpointing}) and wraps whatever the plan runs.
 *
 * <p>What the plan does itself: rank arithmetic from the {@link DeviceMesh}, which rows this rank reads (its
 * data-parallel coordinate), loss and token sums over the loss group, the stop agreement over every rank, the global
 * gradient norm (the layer's squares, weighted and summed over the model parallelism's group) and one clip, the
 * preflight, progress reports, checkpoint orchestration and the streamed export. Each parallelism implements only
 * its own interface; none implements this one.
 */
public final class ParallelPlan implements ShardingStrategy {
    private final ModelParallelLayer modelParallelLayer;
    private final DataParallelLayer layer;
    private final Collectives lossGroup;
    private final DeviceMesh mesh;
    private final int rank;
    private final int localRank;
    private final Device device;
    private final Peers peers;
    private final ContextParallelism contextParallel;
    private long steps;

    /**
     * @param modelParallelLayer how the model is split ({@link ModelParallelLayer#NONE} for none)
     * @param layer the data-parallel layer over this rank's data-parallel group
     * @param lossGroup the ranks whose losses and token counts add up to the global batch's (the data-parallel
     *     group; with context parallel it will also span the cp axis)
     * @param mesh the mesh
     * @param rank this process's global rank
     * @param localRank its index among the ranks of its node
     * @param device the device this rank trains on (the runtime's decision)
     * @param peers the other ranks, outside collectives: preflight, agreement points, failures, progress (from
     *     the runtime)
     */
    public ParallelPlan(ModelParallelLayer modelParallelLayer, DataParallelLayer layer, Collectives lossGroup,
                        DeviceMesh mesh, int rank, int localRank, Device device,
                        Peers peers) {
        this(modelParallelLayer, null, layer, lossGroup, mesh, rank, localRank, device, peers);
    }

    /**
     * As the other constructor, with context parallel between the model parallelism and the data-parallel layer.
     *
     * @param contextParallel context parallel over the mesh's cp group, or null without it; the layer's gradient
     *     group and {@code lossGroup} then span cp
     */
    public ParallelPlan(ModelParallelLayer modelParallelLayer, ContextParallelism contextParallel,
                        DataParallelLayer layer, Collectives lossGroup, DeviceMesh mesh, int rank, int localRank,
                        Device device, Peers peers) {
        this.contextParallel = contextParallel;
        this.modelParallelLayer = modelParallelLayer;
        this.layer = layer;
        this.lossGroup = lossGroup;
        this.mesh = mesh;
        this.rank = rank;
        this.localRank = localRank;
        this.device = device;
        this.peers = peers;
    }

    /** The data-parallel layer (DDP, ZeRO, FSDP2) this plan applies last. */
    public DataParallelLayer dataParallelLayer() {
        return layer;
    }

    /** The model parallelism this plan applies first ({@link ModelParallelLayer#NONE} without one). */
    public ModelParallelLayer modelParallelLayer() {
        return modelParallelLayer;
    }

    /** The data-parallel layer of {@code strategy} when it is a plan whose layer is a {@code type}. */
    public static <T> Optional<T> layer(ShardingStrategy strategy, Class<T> type) {
        return strategy instanceof ParallelPlan p && type.isInstance(p.layer)
                ? Optional.of(type.cast(p.layer)) : Optional.empty();
    }

    /** The model parallelism of {@code strategy} when it is a plan whose model parallelism is a {@code type}. */
    public static <T> Optional<T> modelParallelLayer(ShardingStrategy strategy, Class<T> type) {
        return strategy instanceof ParallelPlan p && type.isInstance(p.modelParallelLayer)
                ? Optional.of(type.cast(p.modelParallelLayer)) : Optional.empty();
    }

    @Override
    public String name() {
        String name = modelParallelLayer.name(layer.name());
        return contextParallel == null ? name : ContextParallelism.name(name);
    }

    /** The context parallelism of this plan, or empty without one. */
    public Optional<ContextParallelism> contextParallel() {
        return Optional.ofNullable(contextParallel);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int localRank() {
        return localRank;
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
    public Device device() {
        return device;
    }

    @Override
    public Map<String, Integer> mesh() {
        return mesh.axes();
    }

    @Override
    public boolean rankZeroLoadsWeights() {
        return layer.rankZeroLoadsWeights();
    }

    @Override
    public CausalLm loadModel(AxolotlConfig config) {
        return modelParallelLayer.loadModel(config);
    }

    @Override
    public CausalLm parallelize(CausalLm model) {
        CausalLm m = modelParallelLayer.parallelize(model);
        return contextParallel == null ? m : contextParallel.parallelize(m);
    }

    @Override
    public MicroBatch microBatch(List<PackedRow> rows, int padTo, int padId, int multiple, Device device) {
        return contextParallel == null ? ShardingStrategy.super.microBatch(rows, padTo, padId, multiple, device)
                : contextParallel.microBatch(rows, padTo, padId, multiple, device);
    }

    @Override
    public long labelTokens(List<PackedRow> rows, int padTo, int multiple) {
        return contextParallel == null ? ShardingStrategy.super.labelTokens(rows, padTo, multiple)
                : contextParallel.labelTokens(rows, padTo, multiple);
    }

    @Override
    public void setup(CausalLm model, OptimizerSettings optimizer) {
        modelParallelLayer.setup(model);
        layer.setup(model, optimizer);
    }

    @Override
    public UnitHooks hooks() {
        return modelParallelLayer.hooks(layer);
    }

    /**
     * Over the loss group (the data-parallel ranks, and the cp ranks, whose shards add up to the rows): every
     * tensor-parallel rank already holds the same value.
     */
    @Override
    public double allReduceSum(double value) {
        return lossGroup.allReduceSum(value);
    }

    /** Over the data-parallel ranks, then over the model parallelism's group: every rank of the mesh. */
    @Override
    public boolean anyRank(boolean local) {
        return modelParallelLayer.sumOverGroup(lossGroup.allReduceSum(local ? 1 : 0)) > 0;
    }

    /**
     * Finishes the layer's reductions, then clips once by the global norm: the layer's squares over its group,
     * each parameter weighted by how the model parallelism replicates it, summed over the model parallelism's group.
     */
    @Override
    public double reduceAndClipGradients(double maxNorm, double gradScale) {
        layer.finishGradientReduction();
        double squares = modelParallelLayer.sumOverGroup(
                layer.gradientSquares(modelParallelLayer::gradientSquaresWeight));
        return GradientClipping.unscaleAndClip(Math.sqrt(squares), maxNorm, gradScale, layer::scaleGradients);
    }

    @Override
    public void step(double lr) {
        layer.step(lr);
        peers.progress(++steps);
    }

    @Override
    public void skipStep() {
        layer.skipStep();
        peers.progress(++steps);
    }

    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        // the consolidated HF model beside a tensor-parallel checkpoint; an adapter run's trainer writes the
        // adapter's files instead (its frozen base is never saved)
        if (modelParallelLayer.saveCheckpoint(dir, layer, includeOptimizer)
                && layer.model().frozenParameters().isEmpty()) {
            writeFullModel(dir, layer.model().config(), DType.F32);
        }
    }

    @Override
    public void loadCheckpoint(Path dir) throws IOException {
        modelParallelLayer.loadCheckpoint(dir, layer);
    }

    /**
     * The layer hands each parameter of this rank's slice, whole over its group, to its first rank; the model
     * parallelism gathers the slices of its group; the main rank's sink gets the whole tensor, one at a time.
     */
    @Override
    public void streamFullWeights(WeightSink sink) throws IOException {
        WeightSink mainSink = (name, t) -> {
            if (isMain()) {
                sink.accept(name, t);
            }
        };
        layer.streamWeights((name, slice) -> modelParallelLayer.exportParameter(name, slice, mainSink));
    }

    @Override
    public long modelStateBytes() {
        return layer.modelStateBytes();
    }

    /** The data-parallel layer's frozen base (tensor parallel cut it when the model was sliced). */
    @Override
    public void streamFrozenWeights(CausalLm model, WeightSink sink) throws IOException {
        layer.streamFrozenWeights(sink);
    }

    @Override
    public long frozenBytesHeld(CausalLm model) {
        return layer.frozenBytesHeld();
    }

    @Override
    public void enableMemoryProbe() {
        layer.enableMemoryProbe();
    }

    @Override
    public Map<String, Long> memoryPeaks() {
        Map<String, Long> m = new java.util.LinkedHashMap<>(layer.memoryPeaks());
        if (contextParallel != null && contextParallel.kernel() != null) {
            // what context parallel sent, counted as it ran (for the bench's report beside the analytic count)
            m.put("cp_kv_gathers", contextParallel.kernel().gathers());
            m.put("cp_kv_gathered_elements", contextParallel.kernel().gatheredElements());
            m.put("cp_kv_reduce_scatters", contextParallel.kernel().reduceScatters());
            m.put("cp_kv_reduced_elements", contextParallel.kernel().reducedElements());
            m.put("cp_kv_collective_ms", contextParallel.kernel().collectiveMillis());
            m.put("cp_attention_scores", contextParallel.kernel().attendedScores());
            m.put("cp_attention_dense_scores", contextParallel.kernel().denseScores());
        }
        return m;
    }

    @Override
    public void barrier() {
        lossGroup.barrier();
        modelParallelLayer.barrier();
    }

    @Override
    public void preflight(Map<String, String> facts) {
        peers.preflight(facts);
    }

    @Override
    public void agree(String point) {
        peers.agree(point);
    }

    @Override
    public void reportFailure(String message) {
        peers.reportFailure(message);
    }

    @Override
    public void close() {
        layer.close();
    }
}
