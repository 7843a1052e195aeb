package ai.axolotl.sharding.tp;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.GradientPlacement;
import ai.axolotl.model.ParameterSpec;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigException;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.model.TensorParallelStyle;
import ai.axolotl.model.WeightSink;
import ai.axolotl.sharding.DataParallelLayer;
import ai.axolotl.sharding.MeshCheckpoint;
import ai.axolotl.sharding.ModelParallelLayer;
import ai.axolotl.train.ModelLoader;
import ai.axolotl.train.UnitHooks;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Tensor parallel (Megatron layout, sequence parallel by default), the first parallelism the
 * {@link ai.axolotl.sharding.ParallelPlan} applies: {@link #parallelize} slices the model's parameters by their
 * declared {@link TensorParallelStyle} and builds layers that communicate through {@link TensorParallelRegions} on
 * the tensor-parallel group; the plan's {@link DataParallelLayer} (DDP, ZeRO 1-3 or FSDP2/HSDP) then replicates or
 * shards that rank's slices over the data-parallel group (dp_replicate x dp_shard), which may be a single rank.
 *
 * <p>Gradients: the sliced parameters' gradients are complete on each rank after backward (the regions' conjugate
 * collectives saw to that); with sequence parallelism the norm weights saw only this rank's part of the sequence,
 * so their gradients are summed over the tensor-parallel group (fp32) before the layer beneath reduces them (every
 * micro-batch when it reduce-scatters every micro-batch). The plan's global norm for clipping adds the layer's
 * squares over the tensor-parallel group, counting replicated parameters once.
 */
public final class TensorParallelism implements ModelParallelLayer {
    /** The checkpoint sub-directory holding each tensor-parallel rank's slices. */
    public static final String CHECKPOINT_DIR = MeshCheckpoint.TENSOR_PARALLEL_DIR;
    private final Collectives tensorGroup;
    private final DeviceMesh mesh;
    private final int rank;
    private final boolean sequenceParallel;
    private TensorParallelRegions regions;
    /** The rank's model after {@link #loadModel} or {@link #parallelize}: its parameters' declarations. */
    private CausalLm model;
    private long baseModelBytesRead;

    /**
     * @param tensorGroup the tensor-parallel group of this rank
     * @param mesh the mesh
     * @param rank global rank
     * @param sequenceParallel split activations between regions along the sequence
     */
    public TensorParallelism(Collectives tensorGroup, DeviceMesh mesh, int rank, boolean sequenceParallel) {
        this.tensorGroup = tensorGroup;
        this.mesh = mesh;
        this.rank = rank;
        this.sequenceParallel = sequenceParallel;
    }

    /** {@code tp} alone (DDP over a data-parallel group of one), else the layer's name with {@code +tp}. */
    @Override
    public String name(String layerName) {
        return layerName.equals("ddp") && mesh.dataParallelSize() == 1 ? "tp" : layerName + "+tp";
    }

    /**
     * With weights in base_model (no {@code reinit_weights}), reads only this rank's slices and the replicated
     * norms from the safetensors files instead of the whole model; a fresh initialisation is the one-process one,
     * made whole and sliced by {@link #parallelize}.
     */
    @Override
    public CausalLm loadModel(AxolotlConfig config) {
        if (config.model().reinitWeights()) {
            return ModelLoader.load(config);
        }
        try {
            ModelLoader.shape(config).requireTensorParallel(tensorGroup.size());
        } catch (IllegalArgumentException e) {
            throw notDividing(e);
        }
        regions = new TensorParallelRegions(tensorGroup, sequenceParallel);
        TensorParallelRegions r = regions;
        ModelLoader.SlicedModel sliced = ModelLoader.loadSlices(config, regions,
                (dir, shape) -> TensorParallelSlices.read(dir, shape, r.rank(), r.size()));
        baseModelBytesRead = sliced.bytesRead();
        model = sliced.model();
        return model;
    }

    private static ConfigException notDividing(IllegalArgumentException e) {
        return new ConfigException("tensor_parallel_size", e.getMessage() + " of base_model");
    }

    /** Bytes this rank read from base_model's weight files (0 when it made or read the whole model). */
    public long baseModelBytesRead() {
        return baseModelBytesRead;
    }

    @Override
    public void setup(CausalLm trained) {
        model = trained;
    }

    @Override
    public CausalLm parallelize(CausalLm full) {
        if (regions != null && full.parallelism() == regions) {
            return full; // loaded as this rank's slices already
        }
        regions = new TensorParallelRegions(tensorGroup, sequenceParallel);
        CausalLm local;
        try {
            local = TensorParallelSlices.cut(full, regions);
        } catch (IllegalArgumentException e) { // the degree does not divide the model (validation read no config.json)
            throw notDividing(e);
        }
        full.close();
        model = local;
        return local;
    }

    /** The activation collectives this rank's regions have run so far (after {@link #parallelize}). */
    public ActivationTraffic activationTraffic() {
        return regions.traffic();
    }

    @Override
    public UnitHooks hooks(DataParallelLayer layer) {
        // the layer beneath consumes the gradients when it reduces them: sum the partial ones before that
        return UnitHooks.beforeGradientReduction(layer.hooks(), (unit, lastMicroStep) -> {
            if (lastMicroStep || layer.reducesGradientsEveryMicroBatch()) {
                sumPartialGradients(layer.model(), unit);
            }
        });
    }

    /**
     * Sums, in place and in fp32, the gradients the model declares partial over the tensor-parallel group: those
     * used inside a region on this rank's heads or partial sums ({@link GradientPlacement#PARTIAL}: q/k norms, a
     * row-parallel projection's bias) always, and those between regions
     * ({@link GradientPlacement#PARTIAL_UNDER_SEQUENCE_PARALLEL}: the layer norms) under sequence parallelism.
     */
    private void sumPartialGradients(CausalLm model, ModelUnit unit) {
        for (Map.Entry<String, Tensor> e : unit.parameters().entrySet()) {
            if (!partial(model.spec(e.getKey()).gradient())) {
                continue;
            }
            try (Tensor g = e.getValue().grad()) {
                if (g.defined()) {
                    tensorGroup.allReduceSum(g).await();
                }
            }
        }
    }

    /** Whether a gradient of this placement is a partial sum over the tensor-parallel group in this run. */
    boolean partial(GradientPlacement placement) {
        return placement == GradientPlacement.PARTIAL
                || (placement == GradientPlacement.PARTIAL_UNDER_SEQUENCE_PARALLEL && sequenceParallel);
    }

    /** A replicated gradient is the same on every tensor-parallel rank: counted once over the group. */
    @Override
    public double gradientSquaresWeight(String parameter) {
        return model.spec(parameter).tensorParallel().sharded() ? 1.0 : 1.0 / tensorGroup.size();
    }

    @Override
    public double sumOverGroup(double value) {
        return tensorGroup.allReduceSum(value);
    }

    @Override
    public void barrier() {
        tensorGroup.barrier();
    }

    /**
     * Writes {@code tensor_parallel/}: each tensor-parallel coordinate's state in {@code tp<r>-of-<N>/}, written by
     * the data-parallel layer (DDP: the first replica's slices and optimizer; ZeRO/FSDP2: one partition file per
     * shard rank, so no two ranks write the same file), and {@code meta.json} (mesh, the data-parallel layer, and
     * per parameter its global shape and placement); the plan then writes the whole model as HF safetensors
     * beside it.
     */
    @Override
    public boolean saveCheckpoint(Path dir, DataParallelLayer layer, boolean includeOptimizer) throws IOException {
        Path sub = dir.resolve(CHECKPOINT_DIR);
        layer.saveState(sub.resolve(MeshCheckpoint.sliceDir(tensorGroup.rank(), tensorGroup.size())),
                includeOptimizer);
        if (rank == 0) {
            writeMeta(sub.resolve("meta.json"), layer);
        }
        return true;
    }

    private void writeMeta(Path file, DataParallelLayer layer) throws IOException {
        CausalLm model = layer.model();
        Map<String, Object> params = new LinkedHashMap<>();
        for (String name : model.parameters().keySet()) {
            Map<String, Object> p = new LinkedHashMap<>();
            ParameterSpec spec = model.spec(name);
            p.put("global_shape", spec.shape());
            p.put("placements", Map.of("tp", spec.tensorParallel().placement()));
            params.put(name, p);
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("mesh", mesh.axes());
        meta.put("data_parallel", layer.name());
        meta.put("sequence_parallel", sequenceParallel);
        meta.put("parameters", params);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), meta);
    }

    /**
     * A checkpoint of the same tensor-parallel degree and data-parallel layer is read by that layer from this
     * coordinate's directory (ZeRO and FSDP2 reshard it to another dp size by byte range); any other checkpoint
     * (another tp degree, no tensor parallel, another data-parallel layer, one process) is cut to this rank's
     * slices by {@link MeshCheckpoint}.
     */
    @Override
    public void loadCheckpoint(Path dir, DataParallelLayer layer) throws IOException {
        int tp = tensorGroup.size();
        Path mine = dir.resolve(CHECKPOINT_DIR).resolve(MeshCheckpoint.sliceDir(tensorGroup.rank(), tp));
        if (MeshCheckpoint.savedTensorParallel(dir) == tp && layer.canLoadState(mine)) {
            layer.loadState(mine);
        } else {
            try (MeshCheckpoint other = MeshCheckpoint.open(dir, tensorGroup.rank(), tp)) {
                layer.loadFrom(other);
            }
        }
    }

    /**
     * A split parameter's slices (each whole over its data-parallel group, on the group's first rank: these ranks
     * form one tensor-parallel group) are gathered along their split dimension; a replicated one passes as it is.
     */
    @Override
    public void exportParameter(String name, Tensor slice, WeightSink mainSink) throws IOException {
        TensorParallelStyle style = model.spec(name).tensorParallel();
        if (!style.sharded()) {
            mainSink.accept(name, slice);
            return;
        }
        try (Tensor d = slice.detach(); Tensor full = tensorGroup.allGatherAlong(d, style.shardDim())) {
            mainSink.accept(name, full);
        }
    }
}
