package ai.axolotl.sharding.ddp;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.model.WeightSink;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.sharding.ShardingStrategy;
import ai.axolotl.train.GradientClipping;
import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.TrainingException;
import ai.axolotl.train.UnitHooks;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Data parallel without sharding (DDP): every rank holds the whole model and optimizer, sees its own slice of
 * each global batch, and gradients are summed over the ranks in buckets started as soon as a bucket's units
 * finish their backward on the last micro-batch of a step, so communication overlaps the rest of backward.
 * Earlier micro-batches accumulate locally without communication. Since each rank's loss is divided by the
 * global token count, the summed gradient is exactly the one-process gradient.
 */
public final class DataParallelStrategy extends ShardingStrategy {
    /** Default bucket size (DDP's 25 MiB). */
    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;
    private final long bucketBytes;
    private LlamaModel model;
    private Optimizer optimizer;
    private TensorVector params;
    private GradientBuckets buckets;
    private long bucketsLaunched;
    private boolean stepped;
    private String optimizerName;

    /**
     * @param dataParallel the group of all data-parallel ranks
     * @param mesh the mesh (cp = tp = 1)
     * @param rank global rank
     * @param bucketBytes gradient bucket size
     * @param preflight the runtime's preflight check
     * @param onStep progress callback
     */
    public DataParallelStrategy(Collectives dataParallel, DeviceMesh mesh, int rank, long bucketBytes,
                                Consumer<Map<String, String>> preflight, Runnable onStep) {
        super(dataParallel, mesh, rank, preflight, onStep);
        this.bucketBytes = bucketBytes;
    }

    @Override
    public String name() {
        return "ddp";
    }

    @Override
    public void setup(LlamaModel model, OptimizerSettings settings) {
        this.model = model;
        this.optimizer = OptimizerFactory.create(settings, model.parameters());
        this.params = new TensorVector(model.parameters().values().toArray(new Tensor[0]));
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
            public void afterBackward(ModelUnit unit, boolean lastMicroStep) {
                if (!lastMicroStep) {
                    return;
                }
                if (buckets == null) {
                    buckets = new GradientBuckets(dataParallel, bucketBytes);
                }
                for (Tensor p : unit.parameters().values()) {
                    buckets.add(p);
                }
            }
        };
    }

    /** Gradient buckets all-reduced so far (each at most {@code ddp_bucket_cap_mb}, unless one tensor is larger). */
    public long gradientBucketsLaunched() {
        return bucketsLaunched;
    }

    @Override
    public double reduceAndClipGradients(double maxNorm) {
        finishGradientReduction();
        return GradientClipping.clip(params, maxNorm);
    }

    /**
     * Waits for the step's all-reduces and leaves the summed gradients in the parameters, without clipping (for a
     * strategy composed over this one that computes the norm over more than this group, as tensor parallel does).
     */
    public void finishGradientReduction() {
        if (buckets != null) {
            buckets.finish();
            bucketsLaunched += buckets.launched();
            buckets = null;
        }
    }

    /** The model this rank trains (after {@link #setup}). */
    public LlamaModel model() {
        return model;
    }

    /** The optimizer over the model's parameters (after {@link #setup}). */
    public Optimizer optimizer() {
        return optimizer;
    }

    @Override
    public void step(double lr) {
        OptimizerFactory.stepAndClear(optimizer, lr);
        stepped = true;
        stepDone();
    }

    @Override
    public void saveCheckpoint(Path dir, boolean includeOptimizer) throws IOException {
        if (rank() == 0) { // every rank holds the same state; rank 0 writes it
            SingleProcessStrategy.saveWhole(dir, model, optimizer, includeOptimizer);
        }
    }

    @Override
    public void loadCheckpoint(Path dir) throws IOException {
        try {
            SingleProcessStrategy.loadWhole(dir, model, optimizer);
        } catch (TrainingException e) {
            throw new TrainingException("rank " + rank() + ": " + e.getMessage() + " (every rank reads the checkpoint;"
                    + " put output_dir on storage all nodes share)", e);
        }
        stepped = true;
    }

    @Override
    public void streamFullWeights(WeightSink sink) throws IOException {
        verifyReplicas();
        if (rank() == 0) {
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
            try (Tensor d = p.detach().to(org.bytedeco.pytorch.global.torch.ScalarType.Double);
                 Tensor s = d.sum(); Tensor sq = d.mul(d).sum()) {
                local[i++] = s.item_double();
                local[i++] = sq.item_double();
            }
        }
        int world = dataParallel.size();
        try (Tensor in = Tensor.create(local);
             Tensor out = Tensor.create(new double[world * local.length])) {
            dataParallel.allGather(out, in).await();
            double[] all = new double[world * local.length];
            out.data_ptr_double().get(all);
            for (int r = 1; r < world; r++) {
                for (int k = 0; k < local.length; k++) {
                    if (Double.compare(all[r * local.length + k], all[k]) != 0) {
                        String name = model.parameters().keySet().toArray(new String[0])[k / 2];
                        throw new ai.axolotl.distributed.CollectiveException("data-parallel rank " + r
                                + "'s weights diverged from rank 0's (first at " + name + ")");
                    }
                }
            }
        }
        org.slf4j.LoggerFactory.getLogger(DataParallelStrategy.class)
                .info("all {} data-parallel ranks hold identical weights", world);
    }

    @Override
    public long modelStateBytes() {
        return SingleProcessStrategy.wholeStateBytes(model, stepped && optimizerName.equals("adamw"));
    }

    @Override
    public void close() {
        if (optimizer != null) {
            optimizer.close();
        }
        if (params != null) {
            params.close();
        }
    }
}
