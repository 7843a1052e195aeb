package ai.axolotl.sharding.tp;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.ModelParallelism;
import ai.axolotl.model.ParameterSpec;
import ai.axolotl.model.Safetensors;
import ai.axolotl.train.ModelLoader;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Where tensor parallel cuts a model, driven by the model's declarations ({@link ParameterSpec#tensorParallel}):
 * a rank keeps, of each split parameter, the slice at its index along the split dimension, and every replicated
 * parameter whole. Applied either to a whole model in memory ({@link #cut}) or to a model directory's safetensors,
 * reading only the slices' bytes ({@link #read}).
 */
public final class TensorParallelSlices {
    private TensorParallelSlices() {}

    /** The rank's slice of {@code whole}, a view (the caller copies or closes it). */
    static Tensor slice(Tensor whole, ParameterSpec spec, int rank, int tp) {
        int dim = spec.tensorParallel().shardDim();
        if (dim < 0 || tp == 1) {
            return whole.alias();
        }
        long len = whole.size(dim) / tp;
        return whole.narrow(dim, rank * len, len);
    }

    /**
     * This rank's model cut from a whole one: every split parameter replaced by a copy of the rank's slice,
     * replicated ones copied whole, the layers communicating through {@code parallel}. {@code full} is left as
     * it is (the caller closes it).
     */
    public static CausalLm cut(CausalLm full, ModelParallelism parallel) {
        full.config().requireTensorParallel(parallel.size());
        Map<String, Tensor> local = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Tensor> e : full.parameters().entrySet()) {
                try (Tensor d = e.getValue().detach()) {
                    local.put(e.getKey(), slice(d, full.spec(e.getKey()), parallel.rank(), parallel.size()));
                }
            }
            return full.withParameters(local, parallel, "the whole model cut for tensor-parallel rank "
                    + parallel.rank());
        } finally {
            local.values().forEach(Tensor::close);
        }
    }

    /**
     * Rank {@code rank}'s slices of every parameter of {@code config} in a model directory, as stored (dtype
     * unchanged): only those bytes are read (one byte range per slice of rows, one per row of a slice of columns).
     * A tensor of the files that is not a parameter, or a missing one, is an error naming it.
     */
    public static ModelLoader.Slices read(Path dir, ModelConfig config, int rank, int tp) throws IOException {
        config.requireTensorParallel(tp);
        Set<String> parameters = new HashSet<>(config.parameterNames());
        Map<String, Path> files = new LinkedHashMap<>();
        Map<String, String> storedNames = new LinkedHashMap<>();
        for (Map.Entry<String, Path> e : HfCheckpoint.weightFiles(dir).entrySet()) {
            String stored = e.getKey();
            String name = HfCheckpoint.parameterName(config, stored);
            if (name == null || stored.endsWith("rotary_emb.inv_freq")) {
                continue; // not trained
            }
            if (!parameters.contains(name)) {
                throw new IllegalArgumentException(dir + ": unexpected tensor '" + stored + "' (not a parameter of "
                        + config.family().architectures().get(0) + " with this config.json)");
            }
            files.put(name, e.getValue());
            storedNames.put(name, stored);
        }
        Map<Path, Map<String, Safetensors.Entry>> headers = new LinkedHashMap<>();
        Map<String, Tensor> out = new LinkedHashMap<>();
        long bytes = 0;
        try {
            for (ParameterSpec spec : config.parameterSpecs()) {
                String name = spec.name();
                Path file = files.get(name);
                Safetensors.Entry entry = file == null ? null
                        : headers.computeIfAbsent(file, TensorParallelSlices::entriesOf).get(storedNames.get(name));
                if (entry == null) {
                    throw new IllegalArgumentException(dir + ": missing tensor '" + name + "'");
                }
                long[] shape = spec.shape();
                if (!Arrays.equals(shape, entry.shape())) {
                    throw new IllegalArgumentException(dir + ": tensor '" + name + "' has shape "
                            + Arrays.toString(entry.shape()) + ", expected " + Arrays.toString(shape));
                }
                int dim = spec.tensorParallel().shardDim();
                Tensor t = dim < 0 || tp == 1 ? Safetensors.readSlice(file, entry, 0, 0, shape[0])
                        : Safetensors.readSlice(file, entry, dim, rank * (shape[dim] / tp), shape[dim] / tp);
                bytes += t.nbytes();
                out.put(name, t);
            }
            return new ModelLoader.Slices(out, bytes);
        } catch (IOException | RuntimeException e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
    }

    private static Map<String, Safetensors.Entry> entriesOf(Path file) {
        try {
            return Safetensors.entries(file);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }
}
