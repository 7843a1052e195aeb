package ai.axolotl.model;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The hyper-parameters of a Llama decoder, with the key names of Hugging Face's {@code config.json}.
 *
 * @param vocabSize number of token embeddings
 * @param hiddenSize model width
 * @param intermediateSize MLP width
 * @param numHiddenLayers number of decoder layers
 * @param numAttentionHeads query heads
 * @param numKeyValueHeads key/value heads (grouped-query attention when fewer than query heads)
 * @param maxPositionEmbeddings longest sequence the model is meant for
 * @param rmsNormEps epsilon of every RMSNorm
 * @param ropeTheta base of the rotary embedding
 * @param tieWordEmbeddings whether {@code lm_head} shares the embedding matrix
 * @param torchDtype dtype written to {@code config.json} ("float32", "bfloat16", "float16")
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record LlamaConfig(
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("intermediate_size") int intermediateSize,
        @JsonProperty("num_hidden_layers") int numHiddenLayers,
        @JsonProperty("num_attention_heads") int numAttentionHeads,
        @JsonProperty("num_key_value_heads") int numKeyValueHeads,
        @JsonProperty("max_position_embeddings") int maxPositionEmbeddings,
        @JsonProperty("rms_norm_eps") double rmsNormEps,
        @JsonProperty("rope_theta") double ropeTheta,
        @JsonProperty("tie_word_embeddings") boolean tieWordEmbeddings,
        @JsonProperty("torch_dtype") String torchDtype) {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Fills HF defaults for missing values and checks the shapes fit together. */
    public LlamaConfig {
        if (numKeyValueHeads == 0) {
            numKeyValueHeads = numAttentionHeads;
        }
        if (maxPositionEmbeddings == 0) {
            maxPositionEmbeddings = 2048;
        }
        if (rmsNormEps == 0) {
            rmsNormEps = 1e-6;
        }
        if (ropeTheta == 0) {
            ropeTheta = 10000.0;
        }
        if (torchDtype == null) {
            torchDtype = "float32";
        }
        require(vocabSize > 0, "vocab_size must be > 0");
        require(hiddenSize > 0, "hidden_size must be > 0");
        require(intermediateSize > 0, "intermediate_size must be > 0");
        require(numHiddenLayers > 0, "num_hidden_layers must be > 0");
        require(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0,
                "hidden_size (" + hiddenSize + ") must be divisible by num_attention_heads (" + numAttentionHeads + ")");
        require(numAttentionHeads % numKeyValueHeads == 0,
                "num_attention_heads (" + numAttentionHeads + ") must be divisible by num_key_value_heads ("
                        + numKeyValueHeads + ")");
        require((hiddenSize / numAttentionHeads) % 2 == 0, "head_dim (hidden_size / num_attention_heads) must be even");
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("config.json: " + message);
        }
    }

    /** Size of one attention head. */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** The benchmark shapes of the reference spec: {@code llama-tiny} and {@code llama-small}. */
    public static LlamaConfig shape(String name) {
        return switch (name) {
            case "llama-tiny" -> new LlamaConfig(4096, 256, 688, 4, 8, 4, 2048, 1e-5, 10000, false, "float32");
            case "llama-small" -> new LlamaConfig(8192, 512, 1376, 8, 8, 4, 2048, 1e-5, 10000, false, "float32");
            default -> throw new IllegalArgumentException(
                    "unknown shape '" + name + "'; expected one of " + List.of("llama-tiny", "llama-small"));
        };
    }

    /** Reads a Hugging Face {@code config.json}; only Llama models are accepted. */
    public static LlamaConfig read(Path configJson) {
        try {
            Map<?, ?> raw = JSON.readValue(configJson.toFile(), Map.class);
            Object type = raw.get("model_type");
            if (type != null && !"llama".equals(type)) {
                throw new IllegalArgumentException(configJson + ": model_type '" + type
                        + "' is not supported; axolotl-java trains Llama models (model_type: llama)");
            }
            return JSON.convertValue(raw, LlamaConfig.class);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + configJson + ": " + e.getMessage(), e);
        }
    }

    /** Writes this config as a Hugging Face {@code config.json}. */
    public void write(Path configJson) throws IOException {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("architectures", List.of("LlamaForCausalLM"));
        out.put("model_type", "llama");
        out.put("vocab_size", vocabSize);
        out.put("hidden_size", hiddenSize);
        out.put("intermediate_size", intermediateSize);
        out.put("num_hidden_layers", numHiddenLayers);
        out.put("num_attention_heads", numAttentionHeads);
        out.put("num_key_value_heads", numKeyValueHeads);
        out.put("max_position_embeddings", maxPositionEmbeddings);
        out.put("rms_norm_eps", rmsNormEps);
        out.put("rope_theta", ropeTheta);
        out.put("tie_word_embeddings", tieWordEmbeddings);
        out.put("hidden_act", "silu");
        out.put("attention_bias", false);
        out.put("mlp_bias", false);
        out.put("head_dim", headDim());
        out.put("torch_dtype", torchDtype);
        out.put("bos_token_id", null);
        out.put("eos_token_id", null);
        Files.writeString(configJson, JSON.writeValueAsString(out));
    }

    /** A copy with another vocabulary size. */
    public LlamaConfig withVocabSize(int v) {
        return new LlamaConfig(v, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads,
                maxPositionEmbeddings, rmsNormEps, ropeTheta, tieWordEmbeddings, torchDtype);
    }

    /** A copy with tied or untied embeddings. */
    public LlamaConfig withTiedEmbeddings(boolean tied) {
        return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
                numKeyValueHeads, maxPositionEmbeddings, rmsNormEps, ropeTheta, tied, torchDtype);
    }

    /** A copy with another dtype label for {@code config.json}. */
    public LlamaConfig withTorchDtype(String dtype) {
        return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
                numKeyValueHeads, maxPositionEmbeddings, rmsNormEps, ropeTheta, tieWordEmbeddings, dtype);
    }
}
