package ai.axolotl.sharding;

import ai.axolotl.model.ParameterSpec;
import ai.axolotl.model.DType;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.HfModelWriter;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.TensorParallelStyle;
import ai.axolotl.sharding.partition.PartitionCheckpoint;
import ai.axolotl.train.TrainingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint read for a rank of another mesh: the saved state (parameters and AdamW moments) of any
 * {@code dp_shard x tp} layout that FSDP2, ZeRO, data parallel or one process wrote, with or without tensor
 * parallel, handed out as the slice a rank at tensor-parallel coordinate {@code tpRank} of {@code tp} holds. A split parameter's slice is read from the
 * saved tensor-parallel slices that overlap it, and from each only the overlapping rows or columns, by byte range
 * from the data-parallel partition files; a replicated one is read whole from the first slice. So a rank reads
 * exactly the bytes it owns, one parameter at a time.
 *
 * <p>Layouts: {@code <checkpoint>/fsdp|zero/} (no tensor parallel), the whole state of one process or DDP at the
 * checkpoint's top ({@code model.safetensors} + libtorch's {@code optimizer.pt}, read by {@link WholeStateReader}),
 * or {@code <checkpoint>/tensor_parallel/meta.json} (mesh and placements) with each coordinate's state in
 * {@code tensor_parallel/tp<r>-of-<N>/}: partitions ({@code fsdp|zero/}) or DDP's whole slice. Close it when done
 * (a whole-state slice holds its moments while open).
 */
public final class MeshCheckpoint implements AutoCloseable {
    /** The checkpoint sub-directory of a tensor-parallel run. */
    public static final String TENSOR_PARALLEL_DIR = "tensor_parallel";
    private final Path dir;
    private final List<SavedSlice> slices;
    private final int tpRank;
    private final int tp;

    private MeshCheckpoint(Path dir, List<SavedSlice> slices, int tpRank, int tp) {
        this.dir = dir;
        this.slices = slices;
        this.tpRank = tpRank;
        this.tp = tp;
    }

    /** The directory of one tensor-parallel coordinate's state in {@link #TENSOR_PARALLEL_DIR}. */
    public static String sliceDir(int tpRank, int tp) {
        return "tp" + tpRank + "-of-" + tp;
    }

    /** The tensor-parallel degree a checkpoint was written with (1 without {@code tensor_parallel/meta.json}). */
    public static int savedTensorParallel(Path checkpoint) throws IOException {
        JsonNode meta = tensorParallelMeta(checkpoint);
        return meta == null ? 1 : meta.path("mesh").path("tp").asInt(1);
    }

    /**
     * True when {@code checkpoint} is the whole state of one process or DDP without tensor parallel (its
     * {@code model.safetensors} is not just the consolidated copy beside partitions).
     */
    public static boolean holdsWholeState(Path checkpoint) throws IOException {
        return tensorParallelMeta(checkpoint) == null && PartitionCheckpoint.partitionDir(checkpoint) == null
                && WholeStateReader.isWholeState(checkpoint);
    }

    /** {@code tensor_parallel/meta.json} of a checkpoint, or null when it was not written by a tp run. */
    private static JsonNode tensorParallelMeta(Path checkpoint) throws IOException {
        Path meta = checkpoint.resolve(TENSOR_PARALLEL_DIR).resolve("meta.json");
        return Files.isRegularFile(meta) ? new ObjectMapper().readTree(meta.toFile()) : null;
    }

    /**
     * Opens {@code checkpoint} for the rank at tensor-parallel coordinate {@code tpRank} of {@code tp} (0 of 1
     * without tensor parallel).
     *
     * @throws TrainingException naming the checkpoint when it holds no sharded state this reader can cut
     */
    public static MeshCheckpoint open(Path checkpoint, int tpRank, int tp) throws IOException {
        List<SavedSlice> slices = new ArrayList<>();
        JsonNode meta = tensorParallelMeta(checkpoint);
        try {
            if (meta != null) {
                int saved = meta.path("mesh").path("tp").asInt(1);
                String layer = meta.path("data_parallel").asText() + "+tp";
                for (int r = 0; r < saved; r++) {
                    slices.add(openSlice(checkpoint.resolve(TENSOR_PARALLEL_DIR).resolve(sliceDir(r, saved)), layer));
                }
            } else {
                slices.add(openSlice(checkpoint, "one process or ddp"));
            }
        } catch (IOException | RuntimeException e) {
            slices.forEach(MeshCheckpoint::closeSlice);
            throw e;
        }
        return new MeshCheckpoint(checkpoint, slices, tpRank, tp);
    }

    /** The state in {@code dir}: partition files when there are any, else the whole state of DDP / one process. */
    private static SavedSlice openSlice(Path dir, String writer) throws IOException {
        if (PartitionCheckpoint.partitionDir(dir) != null) {
            return PartitionCheckpoint.open(dir);
        }
        if (WholeStateReader.isWholeState(dir)) {
            return WholeStateReader.open(dir, writer);
        }
        throw new TrainingException("resume_from_checkpoint: " + dir + " holds no model state (fsdp/ or zero/ "
                + "partitions, or " + HfCheckpoint.WEIGHTS + "); not a checkpoint of this library");
    }

    private static void closeSlice(SavedSlice s) {
        if (s instanceof WholeStateReader w) {
            w.close();
        }
    }

    /** Releases what the slices hold (a whole-state slice's moments). */
    @Override
    public void close() {
        slices.forEach(MeshCheckpoint::closeSlice);
    }

    /** Bytes read from the checkpoint's partition files so far (each rank reads only the slices it owns). */
    public long bytesRead() {
        return slices.stream().mapToLong(SavedSlice::bytesRead).sum();
    }

    /** Optimizer steps taken when the checkpoint was written. */
    public long optimizerSteps() {
        return slices.get(0).optimizerSteps();
    }

    /** False when the checkpoint was saved without optimizer state. */
    public boolean hasOptimizer() {
        return slices.get(0).hasOptimizer();
    }

    /** Fails when the checkpoint was saved without optimizer state ({@code save_only_model}): it cannot resume. */
    public void requireOptimizer() {
        if (!hasOptimizer()) {
            throw new TrainingException("resume_from_checkpoint: the checkpoint holds no optimizer state "
                    + "(save_only_model); it cannot be resumed");
        }
    }

    /** What wrote the checkpoint, for messages: the data-parallel strategy and the tensor-parallel degree. */
    public String describe() {
        return slices.get(0).strategy() + (slices.size() > 1 ? " x tp " + slices.size() : "");
    }

    /**
     * {@link #read}, checked against {@code expected}, the shape this rank holds the parameter in: a checkpoint of
     * another model fails naming the parameter and both shapes.
     */
    public Tensor read(String kind, ParameterSpec spec, long[] expected) throws IOException {
        String name = spec.name();
        Tensor t = read(kind, spec);
        if (!Arrays.equals(t.shape(), expected)) {
            String saved = Arrays.toString(t.shape());
            t.close();
            throw new TrainingException("resume_from_checkpoint: '" + name + "' is " + saved + " in the checkpoint ("
                    + describe() + ") but " + Arrays.toString(expected) + " on this rank: not the same model");
        }
        return t;
    }

    /**
     * This rank's slice of saved tensor {@code kind/name} ({@code param}, {@code exp_avg}, {@code exp_avg_sq}), in
     * the shape the rank's model holds it; the caller closes it.
     *
     * @param spec the parameter's declaration (global shape and tensor-parallel layout)
     */
    public Tensor read(String kind, ParameterSpec spec) throws IOException {
        String name = spec.name();
        long[] globalShape = spec.shape();
        TensorParallelStyle style = spec.tensorParallel();
        int saved = slices.size();
        if (!style.sharded() || (saved == 1 && tp == 1)) {
            return slices.get(0).readWhole(kind, name);
        }
        int dim = style.shardDim();
        long whole = globalShape[dim];
        long want = whole / tp;
        long wantFrom = tpRank * want;
        long savedLen = whole / saved;
        List<Tensor> parts = new ArrayList<>();
        try {
            for (int s = 0; s < saved; s++) {
                long lo = Math.max(wantFrom, s * savedLen);
                long hi = Math.min(wantFrom + want, (s + 1) * savedLen);
                if (lo >= hi) {
                    continue; // this saved slice holds nothing of ours: not read
                }
                SavedSlice reader = slices.get(s);
                long[] savedShape = reader.shape(name);
                if (savedShape[dim] != savedLen) {
                    throw new TrainingException(dir + ": saved slice " + s + " of '" + name + "' has "
                            + savedShape[dim] + " entries along dimension " + dim + ", expected " + savedLen);
                }
                // only the overlap is read from the saved slice's partition files
                parts.add(reader.readSlice(kind, name, dim, lo - s * savedLen, hi - lo));
            }
            if (parts.size() == 1) {
                return parts.remove(0);
            }
            try (TensorVector v = new TensorVector(parts.toArray(new Tensor[0]))) {
                return torch.cat(v, dim);
            }
        } finally {
            parts.forEach(Tensor::close);
        }
    }

    /**
     * Rebuilds the full fp32 model of a sharded checkpoint of any mesh (FSDP2 or ZeRO, with or without tensor
     * parallel) into {@code out} as HF safetensors + config.json, without a process group: one whole parameter at a
     * time is assembled from the saved slices and partitions, written and released.
     */
    public static void consolidate(Path checkpoint, Path out) throws IOException {
        Path json = checkpoint.resolve(HfCheckpoint.CONFIG);
        if (!Files.isRegularFile(json)) {
            throw new TrainingException(checkpoint + ": no " + HfCheckpoint.CONFIG + "; not a checkpoint directory");
        }
        ModelConfig config = ModelConfig.read(json);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (ParameterSpec spec : config.parameterSpecs()) {
            shapes.put(spec.name(), spec.shape());
        }
        try (MeshCheckpoint saved = open(checkpoint, 0, 1);
             HfModelWriter w = new HfModelWriter(out, config, shapes, DType.F32, 2L << 30)) {
            for (ParameterSpec spec : config.parameterSpecs()) {
                try (Tensor full = saved.read("param", spec)) {
                    w.accept(spec.name(), full);
                }
            }
        }
    }
}
