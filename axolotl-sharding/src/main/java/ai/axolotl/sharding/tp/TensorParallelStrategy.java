package ai.axolotl.sharding.tp;

import ai.axolotl.config.ConfigException;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.DType;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.model.Safetensors;
import ai.axolotl.model.TensorParallelStyle;
import ai.axolotl.model.WeightSink;
import ai.axolotl.sharding.ShardingStrategy;
import ai.axolotl.sharding.ddp.DataParallelStrategy;
import ai.axolotl.train.GradientClipping;
import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.TrainingException;
import ai.axolotl.train.UnitHooks;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Tensor parallel (Megatron layout, sequence parallel by default) composed with data parallel over the rest of the
 * mesh. Applied in the plan's order: {@link #parallelize} slices the model's parameters by their declared
 * {@link TensorParallelStyle} and builds layers that communicate through {@link TensorParallelRegions} on the
 * tensor-parallel group; the data-parallel strategy it wraps then replicates that rank's slices over the
 * data-parallel group (dp_replicate x dp_shard), which may be a single rank.
 *
 * <p>Gradients: the sliced parameters' gradients are complete on each rank after backward (the regions' conjugate
 * collectives saw to that); with sequence parallelism the norm weights saw only this rank's part of the sequence,
 * so their gradients are summed over the tensor-parallel group (fp32) before the data-parallel reduction. The
 * global norm for clipping adds each slice's squares over the group and counts replicated parameters once.
 */
public final class TensorParallelStrategy extends ShardingStrategy {
    /** The checkpoint sub-directory holding each tensor-parallel rank's slices. */
    public static final String CHECKPOINT_DIR = "tensor_parallel";
    private final Collectives tensorGroup;
    private final DataParallelStrategy replicas;
    private final boolean sequenceParallel;
    private TensorParallelRegions regions;

    /**
     * @param tensorGroup the tensor-parallel group of this rank
     * @param replicas data parallel over this rank's data-parallel group (its slices' replicas)
     * @param dataParallelGroup the same data-parallel group (loss and token sums)
     * @param mesh the mesh
     * @param rank global rank
     * @param sequenceParallel split activations between regions along the sequence
     * @param preflight the runtime's preflight check
     */
    public TensorParallelStrategy(Collectives tensorGroup, DataParallelStrategy replicas,
                                  Collectives dataParallelGroup, DeviceMesh mesh, int rank, boolean sequenceParallel,
                                  Consumer<Map<String, String>> preflight) {
        super(dataParallelGroup, mesh, rank, preflight, () -> { });
        this.tensorGroup = tensorGroup;
        this.replicas = replicas;
        this.sequenceParallel = sequenceParallel;
    }

    @Override
    public String name() {
        return mesh.dataParallelSize() > 1 ? "ddp+tp" : "tp";
    }

    @Override
    public LlamaModel parallelize(LlamaModel full) {
        regions = new TensorParallelRegions(tensorGroup, sequenceParallel);
        LlamaModel local;
        try {
            local = full.tensorParallel(regions);
        } catch (IllegalArgumentException e) { // the degree does not divide the model (validation read no config.json)
            throw new ConfigException("tensor_parallel_size", e.getMessage() + " of base_model");
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
        UnitHooks inner = replicas.hooks();
        return new UnitHooks() {
            @Override
            public void beforeForward(ModelUnit unit) {
                inner.beforeForward(unit);
            }

            @Override
            public void afterForward(ModelUnit unit) {
                inner.afterForward(unit);
            }

            @Override
            public void beforeBackward(ModelUnit unit) {
                inner.beforeBackward(unit);
            }

            @Override
            public void afterEvaluationForward(ModelUnit unit) {
                inner.afterEvaluationForward(unit);
            }

            @Override
            public void afterBackward(ModelUnit unit, boolean lastMicroStep) {
                if (sequenceParallel && lastMicroStep) {
                    sumReplicatedGradients(unit);
                }
                inner.afterBackward(unit, lastMicroStep);
            }
        };
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
    public double reduceAndClipGradients(double maxNorm) {
        replicas.finishGradientReduction();
        double squares = 0;
        int tp = tensorGroup.size();
        for (Map.Entry<String, Tensor> e : model().parameters().entrySet()) {
            try (Tensor g = e.getValue().grad()) {
                if (!g.defined()) {
                    continue;
                }
                try (Tensor sq = g.pow(new Scalar(2.0)); Tensor s = sq.sum()) {
                    double v = s.item_double();
                    // a replicated gradient is the same on every rank: counted once over the group
                    squares += LlamaModel.tensorParallelStyle(e.getKey()).sharded() ? v : v / tp;
                }
            }
        }
        double norm = Math.sqrt(tensorGroup.allReduceSum(squares));
        double coef = GradientClipping.coefficient(norm, maxNorm);
        if (coef < 1) {
            try (NoGradGuard ng = new NoGradGuard()) {
                for (Tensor p : model().parameters().values()) {
                    try (Tensor g = p.grad()) {
                        if (g.defined()) {
                            g.mul_(new Scalar(coef));
                        }
                    }
                }
            }
        }
        return norm;
    }

    @Override
    public void step(double lr) {
        replicas.step(lr);
    }

    /** The file name of one tensor-parallel rank's slices in a checkpoint, named by its mesh coordinate. */
    static String sliceFile(int tpRank, int tp) {
        return "model-tp" + tpRank + "-of-" + tp + ".safetensors";
    }

    static String optimizerFile(int tpRank, int tp) {
        return "optimizer-tp" + tpRank + "-of-" + tp + ".pt";
    }

    /**
     * Writes {@code tensor_parallel/}: each tensor-parallel rank's slices and optimizer state (written by the first
     * replica of that slice only, so no two ranks write the same file) and {@code meta.json} (mesh, and per
     * parameter its global shape and placement), then the whole model as HF safetensors beside it.
     */
    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        Path sub = dir.resolve(CHECKPOINT_DIR);
        int tp = tensorGroup.size();
        int tpRank = tensorGroup.rank();
        if (dataParallelRank() == 0) {
            Files.createDirectories(sub);
            Map<String, Tensor> slices = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : model().parameters().entrySet()) {
                slices.put(e.getKey(), e.getValue().detach());
            }
            try {
                Safetensors.write(sub.resolve(sliceFile(tpRank, tp)), slices, Map.of("format", "pt"));
            } finally {
                slices.values().forEach(Tensor::close);
            }
            if (includeOptimizer) {
                OptimizerFactory.save(replicas.optimizer(), sub.resolve(optimizerFile(tpRank, tp)));
            }
            if (rank() == 0) {
                writeMeta(sub.resolve("meta.json"));
            }
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
        meta.put("sequence_parallel", sequenceParallel);
        meta.put("parameters", params);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), meta);
    }

    @Override
    @SuppressWarnings("unchecked")
    public void loadCheckpoint(Path dir) throws IOException {
        Path sub = dir.resolve(CHECKPOINT_DIR);
        Path metaFile = sub.resolve("meta.json");
        if (!Files.isRegularFile(metaFile)) {
            throw new TrainingException(dir + " has no " + CHECKPOINT_DIR + "/meta.json: it was not written by a "
                    + "tensor-parallel run, and resuming a tensor-parallel run from another layout is not "
                    + "supported yet");
        }
        Map<String, Object> meta = new ObjectMapper().readValue(metaFile.toFile(), Map.class);
        Map<String, Object> saved = (Map<String, Object>) meta.get("mesh");
        int savedTp = ((Number) saved.get("tp")).intValue();
        int tp = tensorGroup.size();
        if (savedTp != tp) {
            throw new TrainingException(dir + " was written with tensor_parallel_size " + savedTp + "; this run has "
                    + tp + ": resuming on another tensor-parallel size is not supported yet");
        }
        Path slices = sub.resolve(sliceFile(tensorGroup.rank(), tp));
        Path opt = sub.resolve(optimizerFile(tensorGroup.rank(), tp));
        if (!Files.isRegularFile(slices) || !Files.isRegularFile(opt)) {
            throw new TrainingException("rank " + rank() + ": " + slices + " or " + opt + " not found (saved with "
                    + "save_only_model, or not on storage every node shares?); this checkpoint cannot be resumed");
        }
        SingleProcessStrategy.copyWeights(model(), Safetensors.read(slices), slices.toString());
        OptimizerFactory.load(replicas.optimizer(), opt);
    }

    /** Gathers each sliced parameter over the tensor-parallel group, one at a time, for the main rank's sink. */
    @Override
    public void streamFullWeights(WeightSink sink) throws IOException {
        for (Map.Entry<String, Tensor> e : model().parameters().entrySet()) {
            TensorParallelStyle style = LlamaModel.tensorParallelStyle(e.getKey());
            if (!style.sharded()) {
                if (isMain()) {
                    sink.accept(e.getKey(), e.getValue());
                }
                continue;
            }
            try (Tensor d = e.getValue().detach();
                 Tensor full = tensorGroup.allGatherAlong(d, style.shardDim())) {
                if (isMain()) {
                    sink.accept(e.getKey(), full);
                }
            }
        }
    }

    @Override
    public long modelStateBytes() {
        return replicas.modelStateBytes();
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
