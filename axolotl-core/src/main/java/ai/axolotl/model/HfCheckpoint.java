package ai.axolotl.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;

/**
 * A Hugging Face model directory: {@code config.json} plus {@code model.safetensors}, or shards named in
 * {@code model.safetensors.index.json}.
 */
public final class HfCheckpoint {
    /** Single-file weights name. */
    public static final String WEIGHTS = "model.safetensors";
    /** Index of sharded weights. */
    public static final String INDEX = "model.safetensors.index.json";
    /** Model hyper-parameters. */
    public static final String CONFIG = "config.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HfCheckpoint() {}

    /** True when {@code dir} holds a config.json and safetensors weights. */
    public static boolean isModelDir(Path dir) {
        return Files.isRegularFile(dir.resolve(CONFIG))
                && (Files.isRegularFile(dir.resolve(WEIGHTS)) || Files.isRegularFile(dir.resolve(INDEX)));
    }

    /** Loads the model of a directory, converting weights to float32 parameters. */
    public static DecoderModel load(Path dir) throws IOException {
        if (!Files.isRegularFile(dir.resolve(CONFIG))) {
            throw new IOException(dir + ": no config.json (expected a Hugging Face model directory)");
        }
        ModelConfig config = ModelConfig.read(dir.resolve(CONFIG));
        Map<String, Tensor> weights = readWeights(dir);
        try {
            return DecoderModel.fromWeights(config, weights, dir.toString());
        } finally {
            weights.values().forEach(Tensor::close);
        }
    }

    /** Which file holds each tensor: the single model.safetensors, or the index's weight_map. */
    public static Map<String, Path> weightFiles(Path dir) throws IOException {
        Map<String, Path> out = new LinkedHashMap<>();
        if (Files.isRegularFile(dir.resolve(WEIGHTS))) {
            for (String name : Safetensors.entries(dir.resolve(WEIGHTS)).keySet()) {
                out.put(name, dir.resolve(WEIGHTS));
            }
            return out;
        }
        Path index = dir.resolve(INDEX);
        if (!Files.isRegularFile(index)) {
            throw new IOException(dir + ": no " + WEIGHTS + " or " + INDEX);
        }
        JsonNode map = JSON.readTree(index.toFile()).get("weight_map");
        if (map == null) {
            throw new IOException(index + ": no weight_map");
        }
        map.fields().forEachRemaining(e -> out.put(e.getKey(), dir.resolve(e.getValue().asText())));
        return out;
    }

    /** Reads every weight tensor of a model directory as stored (dtype unchanged). */
    public static Map<String, Tensor> readWeights(Path dir) throws IOException {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Path file : new LinkedHashSet<>(weightFiles(dir).values())) {
            out.putAll(Safetensors.read(file));
        }
        return out;
    }

    /**
     * Writes config.json and the weights, converted to {@code dtype}, into {@code dir}. Weights larger than
     * {@code maxShardBytes} in total are split into {@code model-0000i-of-0000n.safetensors} with an index.
     */
    public static void save(Path dir, ModelConfig config, Map<String, Tensor> params, DType dtype,
                            long maxShardBytes) throws IOException {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        params.forEach((name, t) -> shapes.put(name, t.shape()));
        try (HfModelWriter w = new HfModelWriter(dir, config, shapes, dtype, maxShardBytes)) {
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                w.accept(e.getKey(), e.getValue());
            }
        }
    }
}
