package ai.axolotl.sharding.ddp;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.ParameterSpec;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.model.Safetensors;
import ai.axolotl.model.WeightSink;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.DataParallelLayer;
import ai.axolotl.sharding.MeshCheckpoint;
import ai.axolotl.sharding.WholeStateReader;
import ai.axolotl.train.AdamWArchive;
import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.TrainOptimizer;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.TrainingException;
import ai.axolotl.train.UnitHooks;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Data parallel without sharding (DDP): every rank holds the whole model and optimizer, sees its own slice of
 * each global batch, and gradients are summed over the ranks in buckets started as soon as a bucket's units
 * finish their backward on the last micro-batch of a step, so communication overlaps the rest of backward.
 * Earlier micro-batches accumulate locally without communication. The gradients are views of the buckets' flat
 * tensors ({@link GradientBuckets}), so the all-reduce runs in place and no second copy of the gradients exists.
 * Since each rank's loss is divided by the global token count, the summed gradient is exactly the one-process
 * gradient.
 */
public final class DdpLayer implements DataParallelLayer {
    /** This rank's parameters in a state directory written by {@link #saveState} (the name one process uses). */
    public static final String STATE_MODEL = HfCheckpoint.WEIGHTS;
    /** This rank's optimizer state in a state directory written by {@link #saveState} (libtorch's format). */
    public static final String STATE_OPTIMIZER = SingleProcessStrategy.OPTIMIZER_FILE;
    /** Default bucket size (DDP's 25 MiB). */
    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;
    private final Collectives dataParallel;
    private final DeviceMesh mesh;
    private final int rank;
    private final long bucketBytes;
    private CausalLm model;
    private TrainOptimizer optimizer;
    private GradientBuckets buckets;
    private String optimizerName;

    /**
     * @param dataParallel the group of all data-parallel ranks
     * @param mesh the mesh (cp = tp = 1)
     * @param rank global rank
     * @param bucketBytes gradient bucket size
     */
    public DdpLayer(Collectives dataParallel, DeviceMesh mesh, int rank, long bucketBytes) {
        this.dataParallel = dataParallel;
        this.mesh = mesh;
        this.rank = rank;
        this.bucketBytes = bucketBytes;
    }

    /** 0 on the one rank of each tensor-parallel slice that writes (cp ranks hold the same state). */
    private int dataParallelRank() {
        return mesh.gradientRank(rank);
    }

    @Override
    public String name() {
        return "ddp";
    }

    @Override
    public void setup(CausalLm model, OptimizerSettings settings) {
        this.model = model;
        this.optimizer = OptimizerFactory.forTraining(settings, model.parameters());
        this.optimizerName = settings.optimizer();
        // every rank starts from rank 0's weights, whatever it loaded or initialised
        for (Tensor p : model.parameters().values()) {
            try (Tensor d = p.detach()) {
                dataParallel.broadcast(d, 0).await();
            }
        }
    }

    @Override
    public UnitHooks hooks() {
        return new UnitHooks() {
            @Override
            public void beforeBackward(ModelUnit unit) {
                buckets().beforeBackward(unit);
            }

            @Override
            public void afterBackward(ModelUnit unit, boolean lastMicroStep) {
                if (lastMicroStep) {
                    buckets().afterLastBackward(unit);
                }
            }
        };
    }

    private GradientBuckets buckets() {
        if (buckets == null) {
            buckets = new GradientBuckets(dataParallel, model.units(), bucketBytes);
        }
        return buckets;
    }

    /** Gradient buckets all-reduced so far (each at most {@code ddp_bucket_cap_mb}, unless one tensor is larger). */
    public long gradientBucketsLaunched() {
        return buckets == null ? 0 : buckets.launched();
    }

    /** Waits for the step's all-reduces and leaves the summed gradients in the parameters, without clipping. */
    @Override
    public void finishGradientReduction() {
        if (buckets != null) {
            buckets.finish();
        }
    }

    /** Every rank holds the whole summed gradients: the squares are this rank's, no communication. */
    @Override
    public double gradientSquares(ToDoubleFunction<String> weight) {
        double squares = 0;
        for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
            try (Tensor g = e.getValue().grad()) {
                if (!g.defined()) {
                    continue;
                }
                try (Tensor sq = g.pow(new Scalar(2.0)); Tensor s = sq.sum()) {
                    squares += weight.applyAsDouble(e.getKey()) * s.item_double();
                }
            }
        }
        return squares;
    }

    @Override
    public void scaleGradients(double coefficient) {
        try (NoGradGuard ng = new NoGradGuard()) {
            for (Tensor p : model.parameters().values()) {
                try (Tensor g = p.grad()) {
                    if (g.defined()) {
                        g.mul_(new Scalar(coefficient));
                    }
                }
            }
        }
    }

    /** The first data-parallel rank writes the parameters it holds and the optimizer state; the others hold copies. */
    @Override
    public void saveState(Path dir, boolean includeOptimizer) throws IOException {
        if (dataParallelRank() != 0) {
            return;
        }
        Files.createDirectories(dir);
        Map<String, Tensor> held = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
            held.put(e.getKey(), e.getValue().detach());
        }
        try {
            Safetensors.write(dir.resolve(STATE_MODEL), held, Map.of("format", "pt"));
        } finally {
            held.values().forEach(Tensor::close);
        }
        if (includeOptimizer) {
            optimizer.save(dir.resolve(optimizer.fileName()));
        }
    }

    @Override
    public boolean canLoadState(Path dir) {
        return WholeStateReader.isWholeState(dir);
    }

    /**
     * Takes every parameter whole (this rank's tensor-parallel slice of it) and its AdamW moments from a checkpoint
     * of another mesh or layer, and loads the moments into libtorch's AdamW by name ({@link AdamWArchive}). Every
     * rank reads the same state, as every DDP rank holds it.
     */
    @Override
    public void loadFrom(MeshCheckpoint checkpoint) throws IOException {
        checkpoint.requireOptimizer();
        if (optimizer.libtorch() == null || !optimizerName.equals("adamw")) {
            throw new TrainingException("resume_from_checkpoint: the checkpoint was written by "
                    + checkpoint.describe() + "; moving optimizer state to data parallel needs optimizer: adamw, "
                    + "this run has " + optimizerName);
        }
        long steps = checkpoint.optimizerSteps();
        Map<String, AdamWArchive.Moments> moments = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
                String name = e.getKey();
                ParameterSpec global = model.spec(name);
                try (Tensor dst = e.getValue().detach();
                     Tensor saved = checkpoint.read("param", global, dst.shape());
                     NoGradGuard g = new NoGradGuard()) {
                    dst.copy_(saved);
                }
                if (steps > 0) {
                    moments.put(name, new AdamWArchive.Moments(onModelDevice(checkpoint.read("exp_avg", global)),
                            onModelDevice(checkpoint.read("exp_avg_sq", global)), steps));
                }
            }
            AdamWArchive.load(optimizer.libtorch(), OptimizerFactory.groupOrder(model.parameters()), moments);
        } finally {
            moments.values().forEach(AdamWArchive.Moments::close);
        }
    }

    /** {@code t} (read on the host) on the model's device; {@code t} is released. */
    private Tensor onModelDevice(Tensor t) {
        try (t) {
            return Tensors.to(t, model.device());
        }
    }

    @Override
    public void loadState(Path dir) throws IOException {
        Path weights = dir.resolve(STATE_MODEL);
        Path opt = dir.resolve(optimizer.fileName());
        if (!Files.isRegularFile(weights) || !Files.isRegularFile(opt)) {
            throw new TrainingException("rank " + rank + ": " + weights + " or " + opt + " not found (saved with "
                    + "save_only_model, or not on storage every node shares?); this checkpoint cannot be resumed");
        }
        Map<String, Tensor> saved = Safetensors.read(weights);
        try {
            SingleProcessStrategy.copyWeights(model, saved, weights.toString());
        } finally {
            saved.values().forEach(Tensor::close);
        }
        optimizer.load(opt, model.device());
    }

    /** The model this rank trains (after {@link #setup}). */
    @Override
    public CausalLm model() {
        return model;
    }

    /** The optimizer over the model's parameters (after {@link #setup}). */
    public TrainOptimizer optimizer() {
        return optimizer;
    }

    /** One AdamW/SGD step on the summed gradients; then the gradients and their buckets are released. */
    @Override
    public void step(double lr) {
        optimizer.step(lr);
        releaseGradients();
    }

    @Override
    public void skipStep() {
        releaseGradients();
    }

    /** Every gradient lives in a bucket (all parameters that require grad are in one): released with them. */
    private void releaseGradients() {
        if (buckets != null) {
            buckets.release();
        }
    }

    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        if (rank == 0) { // every rank holds the same state; rank 0 writes it
            SingleProcessStrategy.saveWhole(dir, model, optimizer, includeOptimizer);
        }
    }

    /**
     * Its own layout (the whole model and libtorch's optimizer.pt) directly; a checkpoint of another layer or mesh
     * (ZeRO, FSDP2, tensor parallel) through {@link #loadFrom}.
     */
    @Override
    public void loadCheckpoint(Path dir) throws IOException {
        if (!MeshCheckpoint.holdsWholeState(dir)) {
            try (MeshCheckpoint other = MeshCheckpoint.open(dir, 0, 1)) {
                loadFrom(other);
            }
            return;
        }
        try {
            SingleProcessStrategy.loadWhole(dir, model, optimizer);
        } catch (TrainingException e) {
            throw new TrainingException("rank " + rank + ": " + e.getMessage() + " (every rank reads the checkpoint;"
                    + " put output_dir on storage all nodes share)", e);
        }
    }

    @Override
    public void streamWeights(WeightSink sink) throws IOException {
        verifyReplicas();
        if (dataParallelRank() == 0) { // rank 0, or under tensor parallel each slice's first replica
            for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
                sink.accept(e.getKey(), e.getValue());
            }
        }
    }

    /**
     * Checks every rank holds bit-identical weights: per-parameter sums and sums of squares (float64) are
     * gathered and compared with rank 0's.
     */
    void verifyReplicas() {
        int n = model.parameters().size();
        double[] local = new double[2 * n];
        int i = 0;
        for (Tensor p : model.parameters().values()) {
            try (Tensor d = p.detach().to(ScalarType.Double);
                 Tensor s = d.sum(); Tensor sq = d.mul(d).sum()) {
                local[i++] = s.item_double();
                local[i++] = sq.item_double();
            }
        }
        int world = dataParallel.size();
        Device device = model.device(); // the collectives carry tensors of the model's device
        try (Tensor hostIn = Tensor.create(local); Tensor in = Tensors.to(hostIn, device);
             Tensor hostOut = Tensor.create(new double[world * local.length]); Tensor out = Tensors.to(hostOut, device)) {
            dataParallel.allGather(out, in).await();
            double[] all = new double[world * local.length];
            try (Tensor back = out.cpu()) {
                back.data_ptr_double().get(all);
            }
            for (int r = 1; r < world; r++) {
                for (int k = 0; k < local.length; k++) {
                    if (Double.compare(all[r * local.length + k], all[k]) != 0) {
                        String name = model.parameters().keySet().toArray(new String[0])[k / 2];
                        throw new CollectiveException("data-parallel rank " + r
                                + "'s weights diverged from rank 0's (first at " + name + ")");
                    }
                }
            }
        }
        if (rank == 0) {
            LoggerFactory.getLogger(DdpLayer.class).info("all {} data-parallel ranks hold identical weights", world);
        }
    }

    @Override
    public long modelStateBytes() {
        return SingleProcessStrategy.wholeStateBytes(model, optimizer);
    }

    @Override
    public void close() {
        if (buckets != null) {
            buckets.close();
        }
        if (optimizer != null) {
            optimizer.close();
        }
    }
}
