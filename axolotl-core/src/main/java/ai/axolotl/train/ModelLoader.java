package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.ModelParallelism;
import org.bytedeco.pytorch.Tensor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Loads the model a config names: weights from {@code base_model}, or a fresh one when {@code reinit_weights}. */
public final class ModelLoader {
    private static final Logger LOG = LoggerFactory.getLogger(ModelLoader.class);

    private ModelLoader() {}

    /** The directory of {@code base_model}, checked to be a local model directory. */
    public static Path baseModelDir(AxolotlConfig config) {
        String base = config.model().baseModel();
        Path dir = Path.of(base);
        if (!Files.isDirectory(dir)) {
            throw new TrainingException("base_model: '" + base + "' is not a local directory (nor a Hub id "
                    + "org/name)");
        }
        if (!Files.isRegularFile(dir.resolve(HfCheckpoint.CONFIG))) {
            throw new TrainingException("base_model: '" + base + "' has no config.json");
        }
        return dir;
    }

    /** A placeholder of the model's shape (config.json only): its weights will come from rank 0. */
    public static CausalLm placeholder(AxolotlConfig config) {
        Path dir = baseModelDir(config);
        return DecoderModel.placeholder(ModelConfig.read(dir.resolve(HfCheckpoint.CONFIG)));
    }

    /** The shape of the base model (its config.json). */
    public static ModelConfig shape(AxolotlConfig config) {
        return ModelConfig.read(baseModelDir(config).resolve(HfCheckpoint.CONFIG));
    }

    /**
     * A tensor-parallel rank's model read from base_model's safetensors.
     *
     * @param model the rank's model over its slices
     * @param bytesRead bytes read from the weight files (its slices and the replicated norms only)
     */
    public record SlicedModel(CausalLm model, long bytesRead) {}

    /**
     * The tensors a rank read from a model directory.
     *
     * @param tensors by parameter name, each in the shape the rank holds it (the caller closes them)
     * @param bytesRead bytes read from the files
     */
    public record Slices(Map<String, Tensor> tensors, long bytesRead) {}

    /** Reads a rank's slices of a model directory's weights (the tensor-parallel plan decides what they are). */
    @FunctionalInterface
    public interface SliceReader {
        /** The slices of every parameter of {@code config} that this rank holds. */
        Slices read(Path dir, ModelConfig config) throws IOException;
    }

    /**
     * A tensor-parallel rank's model read slice by slice from base_model's safetensors (only the bytes {@code
     * reader} reads), for a config without {@code reinit_weights}; failures are one line naming base_model.
     */
    public static SlicedModel loadSlices(AxolotlConfig config, ModelParallelism parallel, SliceReader reader) {
        Path dir = baseModelDir(config);
        long[] bytes = {0};
        CausalLm model = reading(dir, () -> {
            requireWeights(dir);
            ModelConfig shape = ModelConfig.read(dir.resolve(HfCheckpoint.CONFIG));
            Slices slices = reader.read(dir, shape);
            try {
                bytes[0] = slices.bytesRead();
                LOG.info("tensor-parallel rank {} of {} read {} bytes of base_model's weights (its slices)",
                        parallel.rank(), parallel.size(), slices.bytesRead());
                return DecoderModel.fromSlices(shape, slices.tensors(), parallel, dir.toString());
            } finally {
                slices.tensors().values().forEach(Tensor::close);
            }
        });
        return new SlicedModel(model, bytes[0]);
    }

    /** The model to train. */
    public static CausalLm load(AxolotlConfig config) {
        Path dir = baseModelDir(config);
        return reading(dir, () -> {
            if (config.model().reinitWeights()) {
                ModelConfig shape = ModelConfig.read(dir.resolve(HfCheckpoint.CONFIG));
                return DecoderModel.initialise(shape, config.training().seed());
            }
            requireWeights(dir);
            return HfCheckpoint.load(dir);
        });
    }

    private static void requireWeights(Path dir) {
        if (!HfCheckpoint.isModelDir(dir)) {
            throw new TrainingException("base_model: '" + dir + "' has config.json but no model.safetensors "
                    + "(or index); set reinit_weights: true to start from random weights");
        }
    }

    /** What reads base_model, its failures worded as one line naming base_model. */
    @FunctionalInterface
    private interface Read {
        CausalLm get() throws IOException;
    }

    private static CausalLm reading(Path dir, Read read) {
        try {
            return read.get();
        } catch (IllegalArgumentException e) {
            throw new TrainingException("base_model: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new TrainingException("base_model: cannot read " + dir + ": " + e.getMessage(), e);
        } catch (UncheckedIOException e) {
            throw new TrainingException("base_model: " + e.getMessage(), e);
        }
    }
}
