package ai.axolotl.sharding;

import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.Safetensors;
import ai.axolotl.train.AdamWArchive;
import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.TrainingException;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The whole state one process or data parallel (DDP) saves, read by parameter name for a rank of another mesh:
 * parameters from {@code model.safetensors} (by byte range, only what is asked for), AdamW moments from libtorch's
 * {@code optimizer.pt} ({@link AdamWArchive}; the file is read once and held while the checkpoint is open, so a
 * rank resuming from it holds the whole moments of the slice for that long).
 */
public final class WholeStateReader implements SavedSlice, AutoCloseable {
    private final Path dir;
    private final String strategy;
    private final Path weights;
    private final Map<String, Safetensors.Entry> entries;
    private final Map<String, AdamWArchive.Moments> moments;
    private final boolean hasOptimizer;
    private long bytesRead;

    private WholeStateReader(Path dir, String strategy, Path weights, Map<String, Safetensors.Entry> entries,
                             Map<String, AdamWArchive.Moments> moments, boolean hasOptimizer) {
        this.dir = dir;
        this.strategy = strategy;
        this.weights = weights;
        this.entries = entries;
        this.moments = moments;
        this.hasOptimizer = hasOptimizer;
    }

    /** True when {@code dir} holds whole state: {@code model.safetensors} (optimizer.pt unless save_only_model). */
    public static boolean isWholeState(Path dir) {
        return Files.isRegularFile(dir.resolve(HfCheckpoint.WEIGHTS));
    }

    /**
     * Opens the whole state in {@code dir}, written by {@code strategy}.
     *
     * @throws TrainingException naming the file when the optimizer state is not AdamW's over these parameters
     */
    public static WholeStateReader open(Path dir, String strategy) throws IOException {
        Path weights = dir.resolve(HfCheckpoint.WEIGHTS);
        Map<String, Safetensors.Entry> entries = Safetensors.entries(weights);
        Path optimizer = dir.resolve(SingleProcessStrategy.OPTIMIZER_FILE);
        boolean hasOptimizer = Files.isRegularFile(optimizer);
        Map<String, AdamWArchive.Moments> moments = new LinkedHashMap<>();
        if (hasOptimizer) {
            moments = AdamWArchive.read(optimizer, groupOrder(entries));
        }
        return new WholeStateReader(dir, strategy, weights, entries, moments, hasOptimizer);
    }

    /** The parameters in the order the optimizer that saved them held them ({@link OptimizerFactory#groupOrder}). */
    private static List<String> groupOrder(Map<String, Safetensors.Entry> entries) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        entries.forEach((name, e) -> shapes.put(name, e.shape()));
        return OptimizerFactory.groupOrderOfShapes(shapes);
    }

    @Override
    public String strategy() {
        return strategy;
    }

    @Override
    public long optimizerSteps() {
        return moments.values().stream().mapToLong(AdamWArchive.Moments::step).max().orElse(0);
    }

    @Override
    public boolean hasOptimizer() {
        return hasOptimizer;
    }

    @Override
    public Tensor readWhole(String kind, String name) throws IOException {
        long[] shape = shape(name);
        return readSlice(kind, name, 0, 0, shape[0]);
    }

    @Override
    public Tensor readSlice(String kind, String name, int dim, long from, long len) throws IOException {
        if (kind.equals("param")) {
            Tensor t = Safetensors.readSlice(weights, entry(name), dim, from, len);
            bytesRead += t.nbytes();
            return t;
        }
        AdamWArchive.Moments m = moments.get(name);
        if (m == null) {
            throw new TrainingException(dir + ": no AdamW state for '" + name + "' in "
                    + SingleProcessStrategy.OPTIMIZER_FILE);
        }
        Tensor whole = kind.equals("exp_avg") ? m.expAvg() : kind.equals("exp_avg_sq") ? m.expAvgSq() : null;
        if (whole == null) {
            throw new IllegalArgumentException("unknown saved tensor kind '" + kind + "'");
        }
        try (Tensor part = whole.narrow(dim, from, len)) {
            return part.contiguous().clone();
        }
    }

    private Safetensors.Entry entry(String name) {
        Safetensors.Entry e = entries.get(name);
        if (e == null) {
            throw new TrainingException(weights + ": the checkpoint has no parameter '" + name + "'");
        }
        return e;
    }

    @Override
    public long[] shape(String name) {
        return entry(name).shape().clone();
    }

    @Override
    public long bytesRead() {
        return bytesRead;
    }

    @Override
    public void close() {
        moments.values().forEach(AdamWArchive.Moments::close);
    }
}
