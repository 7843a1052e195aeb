package ai.axolotl.sharding.tp;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigException;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.DType;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.model.TensorParallelStyle;
import ai.axolotl.model.WeightSink;
import ai.axolotl.sharding.DataParallelLayer;
import ai.axolotl.sharding.MeshCheckpoint;
import ai.axolotl.sharding.ShardingStrategy;
import ai.axolotl.train.GradientClipping;
import ai.axolotl.train.ModelLoader;
import ai.axolotl.train.UnitHooks;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Tensor parallel (Megatron layout, sequence parallel by default) composed with a data-parallel layer over the
 * rest of the mesh. Applied in the plan's order: {@link #parallelize} slices the model's parameters by their
 * declared {@link TensorParallelStyle} and builds layers that communicate through {@link TensorParallelRegions} on
 * the tensor-parallel group; the {@link DataParallelLayer} it wraps (DDP, ZeRO 1-3 or FSDP2/HSDP) then replicates
 * or shards that rank's slices over the data-parallel group (dp_replicate x dp_shard), which may be a single rank.
 *
 * <p>Gradients: the sliced parameters' gradients are complete on each rank after backward (the regions' conjugate
 * collectives saw to that); with sequence parallelism the norm weights saw only this rank's part of the sequence,
 * so their gradients are summed over the tensor-parallel group (fp32) before the layer beneath reduces them (every
 * micro-batch when it reduce-scatters every micro-batch). The global norm for clipping adds each layer's squares
 * over the tensor-parallel group, counting replicated parameters once.
 */
public final class TensorParallelStrategy extends ShardingStrategy {
    /** The checkpoint sub-directory holding each tensor-parallel rank's slices. */
    public static final String CHECKPOINT_DIR = MeshCheckpoint.TENSOR_PARALLEL_DIR;
    private final Collectives tensorGroup;
    private final DataParallelLayer replicas;
    private final boolean sequenceParallel;
    private TensorParallelRegions regions;
    private long baseModelBytesRead;

    /**
     * @param tensorGroup the tensor-parallel group of this rank
     * @param replicas the data-parallel layer over this rank's data-parallel group (DDP, ZeRO or FSDP2 over the
     *     slices' replicas)
     * @param dataParallelGroup the same data-parallel group (loss and token sums)
     * @param mesh the mesh
     * @param rank global rank
     * @param sequenceParallel split activations between regions along the sequence
     * @param preflight the runtime's preflight check
     */
    public TensorParallelStrategy(Collectives tensorGroup, DataParallelLayer replicas,
                                  Collectives dataParallelGroup, DeviceMesh mesh, int rank, boolean sequenceParallel,
                                  Consumer<Map<String, String>> preflight) {
        super(dataParallelGroup, mesh, rank, preflight, () -> { });
        this.tensorGroup = tensorGroup;
        this.replicas = replicas;
        this.sequenceParallel = sequenceParallel;
    }

    /** Over the data-parallel ranks, then over this rank's tensor-parallel group: every rank of the mesh. */
    @Override
    public boolean anyRank(boolean local) {
        return tensorGroup.allReduceSum(allReduceSum(local ? 1 : 0)) > 0;
    }

    @Override
    public String name() {
        String inner = replicas.name();
        return inner.equals("ddp") && mesh.dataParallelSize() == 1 ? "tp" : inner + "+tp";
    }

    /**
     * With weights in base_model (no {@code reinit_weights}), reads only this rank's slices and the replicated
     * norms from the safetensors files instead of the whole model; a fresh initialisation is the one-process one,
     * made whole and sliced by {@link #parallelize}.
     */
    @Override
    public LlamaModel loadModel(AxolotlConfig config) {
        if (config.model().reinitWeights()) {
            return ModelLoader.load(config);
        }
        try {
            LlamaModel.requireTensorParallel(ModelLoader.shape(config), tensorGroup.size());
        } catch (IllegalArgumentException e) {
            throw notDividing(e);
        }
        regions = new TensorParallelRegions(tensorGroup, sequenceParallel);
        ModelLoader.SlicedModel sliced = ModelLoader.loadSlices(config, regions);
        baseModelBytesRead = sliced.bytesRead();
        return sliced.model();
    }

    private static ConfigException notDividing(IllegalArgumentException e) {
        return new ConfigException("tensor_parallel_size", e.getMessage() + " of base_model");
    }

    /** Bytes this rank read from base_model's weight files (0 when it made or read the whole model). */
    public long baseModelBytesRead() {
        return baseModelBytesRead;
    }

    @Override
    public LlamaModel parallelize(LlamaModel full) {
        if (regions != null && full.parallelism() == regions) {
            return full; // loaded as this rank's slices already
        }
        regions = new TensorParallelRegions(tensorGroup, sequenceParallel);
        LlamaModel local;
        try {
            local = full.tensorParallel(regions);
        } catch (IllegalArgumentException e) { // the degree does not divide the model (validation read no config.json)
            throw notDividing(e);
        }
        full.close();
        return local;
    }

    /** The model this rank trains: its slices of the sharded parameters and the whole norms (after setup). */
    public LlamaModel model() {
        return replicas.model();
    }

    /** The activation collectives this rank's regions have run so far (after {@link #parallelize}). */
    public ActivationTraffic activationTraffic() {
        return regions.traffic();
    }

    @Override
    public void setup(LlamaModel model, OptimizerSettings optimizer) {
        replicas.setup(model, optimizer);
    }

    @Override
    public UnitHooks hooks() {
        // the layer beneath consumes the gradients when it reduces them: sum the norms' before that
        return UnitHooks.beforeGradientReduction(replicas.hooks(), (unit, lastMicroStep) -> {
            if (sequenceParallel && (lastMicroStep || replicas.reducesGradientsEveryMicroBatch())) {
                sumReplicatedGradients(unit);
            }
        });
    }

    /** Sums the unit's replicated (norm) gradients over the tensor-parallel group, in place, in fp32. */
    private void sumReplicatedGradients(ModelUnit unit) {
        for (Map.Entry<String, Tensor> e : unit.parameters().entrySet()) {
            if (LlamaModel.tensorParallelStyle(e.getKey()).sharded()) {
                continue;
            }
            try (Tensor g = e.getValue().grad()) {
                if (g.defined()) {
                    tensorGroup.allReduceSum(g).await();
                }
            }
        }
    }

    @Override
    public double reduceAndClipGradients(double maxNorm, double gradScale) {
        replicas.finishGradientReduction();
        int tp = tensorGroup.size();
        // a replicated gradient is the same on every tensor-parallel rank: counted once over the group
        double squares = replicas.gradientSquares(
                name -> LlamaModel.tensorParallelStyle(name).sharded() ? 1.0 : 1.0 / tp);
        return GradientClipping.unscaleAndClip(Math.sqrt(tensorGroup.allReduceSum(squares)), maxNorm, gradScale,
                replicas::scaleGradients);
    }

    @Override
    public void step(double lr) {
        replicas.step(lr);
    }

    @Override
    public void skipStep() {
        replicas.skipStep();
    }

    /**
     * Writes {@code tensor_parallel/}: each tensor-parallel coordinate's state in {@code tp<r>-of-<N>/}, written by
     * the data-parallel layer (DDP: the first replica's slices and optimizer; ZeRO/FSDP2: one partition file per
     * shard rank, so no two ranks write the same file), and {@code meta.json} (mesh, the data-parallel layer, and
     * per parameter its global shape and placement), then the whole model as HF safetensors beside it.
     */
    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        Path sub = dir.resolve(CHECKPOINT_DIR);
        replicas.saveState(sub.resolve(MeshCheckpoint.sliceDir(tensorGroup.rank(), tensorGroup.size())),
                includeOptimizer);
        if (rank() == 0) {
            writeMeta(sub.resolve("meta.json"));
        }
        writeFullModel(dir, model().config(), DType.F32);
    }

    private void writeMeta(Path file) throws IOException {
        Map<String, Object> params = new LinkedHashMap<>();
        for (String name : model().parameters().keySet()) {
            Map<String, Object> p = new LinkedHashMap<>();
            p.put("global_shape", LlamaModel.parameterShape(model().config(), name));
            p.put("placements", Map.of("tp", LlamaModel.tensorParallelStyle(name).placement()));
            params.put(name, p);
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("mesh", mesh());
        meta.put("data_parallel", replicas.name());
        meta.put("sequence_parallel", sequenceParallel);
        meta.put("parameters", params);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), meta);
    }

    /**
     * A checkpoint of the same tensor-parallel degree and data-parallel layer is read by that layer from this
     * coordinate's directory (ZeRO and FSDP2 reshard it to another dp size by byte range); any other sharded
     * checkpoint (another tp degree, no tensor parallel, the other partitioned strategy) is cut to this rank's
     * slices by {@link MeshCheckpoint}.
     */
    @Override
    public void loadCheckpoint(Path dir) throws IOException {
        int tp = tensorGroup.size();
        Path mine = dir.resolve(CHECKPOINT_DIR).resolve(MeshCheckpoint.sliceDir(tensorGroup.rank(), tp));
        if (MeshCheckpoint.savedTensorParallel(dir) == tp && replicas.canLoadState(mine)) {
            replicas.loadState(mine);
        } else {
            replicas.loadFrom(MeshCheckpoint.open(dir, tensorGroup.rank(), tp));
        }
    }

    /**
     * The data-parallel layer hands each parameter of this slice, whole over its group, to its first rank; the
     * first ranks of every slice (one tensor-parallel group) gather the split ones along their split dimension for
     * the main rank's sink, one parameter at a time.
     */
    @Override
    public void streamFullWeights(WeightSink sink) throws IOException {
        replicas.streamFullWeights((name, slice) -> {
            TensorParallelStyle style = LlamaModel.tensorParallelStyle(name);
            if (!style.sharded()) {
                if (isMain()) {
                    sink.accept(name, slice);
                }
                return;
            }
            try (Tensor d = slice.detach(); Tensor full = tensorGroup.allGatherAlong(d, style.shardDim())) {
                if (isMain()) {
                    sink.accept(name, full);
                }
            }
        });
    }

    @Override
    public long modelStateBytes() {
        return replicas.modelStateBytes();
    }

    @Override
    public void enableMemoryProbe() {
        replicas.enableMemoryProbe();
    }

    @Override
    public Map<String, Long> memoryPeaks() {
        return replicas.memoryPeaks();
    }

    /** The data-parallel layer beneath (DDP, ZeRO or FSDP2 over this rank's slices). */
    public DataParallelLayer dataParallelLayer() {
        return replicas;
    }

    @Override
    public void barrier() {
        super.barrier();
        tensorGroup.barrier();
    }

    @Override
    public void close() {
        replicas.close();
    }
}
