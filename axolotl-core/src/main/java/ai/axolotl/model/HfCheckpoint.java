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
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(HfCheckpoint.class);
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
        Map<String, Tensor> weights = new LinkedHashMap<>();
        Map<String, Tensor> stored = readWeights(dir);
        try {
            int skipped = 0;
            for (Map.Entry<String, Tensor> e : stored.entrySet()) {
                String name = parameterName(config, e.getKey());
                if (name == null) {
                    skipped++;
                } else {
                    weights.put(name, e.getValue());
                }
            }
            if (skipped > 0 && config.multimodalTextPart()) {
                LOG.info("{}: trains the text model; {} vision tensors skipped", dir, skipped);
            }
            return DecoderModel.fromWeights(config, weights, dir.toString());
        } finally {
            stored.values().forEach(Tensor::close);
        }
    }

    /**
     * The parameter name a stored tensor holds for a model of {@code config}, or null when it is not trained: the
     * text part of a multimodal checkpoint is read from {@code language_model.model.*} (original release) or
     * {@code model.language_model.*} (newer saves; transformers' {@code _checkpoint_conversion_mapping}), its
     * vision tower and projector skipped. Any other name is returned as stored (a tensor that is no parameter is
     * then an error naming it).
     */
    public static String parameterName(ModelConfig config, String stored) {
        if (!config.multimodalTextPart()) {
            return stored;
        }
        for (String vision : VISION_PREFIXES) {
            if (stored.startsWith(vision)) {
                return null;
            }
        }
        if (stored.startsWith("language_model.model.")) {
            return "model." + stored.substring("language_model.model.".length());
        }
        if (stored.startsWith("model.language_model.")) {
            return "model." + stored.substring("model.language_model.".length());
        }
        if (stored.startsWith("language_model.lm_head.")) {
            return stored.substring("language_model.".length());
        }
        return stored;
    }

    private static final String[] VISION_PREFIXES = {"vision_tower.", "multi_modal_projector.",
        "model.vision_tower.", "model.multi_modal_projector."};

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
