package ai.axolotl.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The hyper-parameters of one decoder checkpoint, with the key names of Hugging Face's {@code config.json}, for
 * every built family ({@link ModelFamilies}): the family's {@link Deltas} plus what varies by checkpoint. Read
 * strictly ({@link #read}): every key is acted on, known to have no effect (carried into the export as read), or
 * refused naming the file and the key. {@link #write} writes back what was read, so a fine-tune is the same
 * architecture.
 *
 * @param modelType the family's {@code model_type}
 * @param vocabSize number of token embeddings
 * @param hiddenSize model width
 * @param intermediateSize MLP width
 * @param numHiddenLayers number of decoder layers
 * @param numAttentionHeads query heads
 * @param numKeyValueHeads key/value heads (grouped-query attention when fewer than query heads)
 * @param headDim size of one attention head (0: hidden_size / num_attention_heads)
 * @param maxPositionEmbeddings longest sequence the model is meant for
 * @param rmsNormEps epsilon of every RMSNorm
 * @param rope the rotary table of full-attention layers ({@code rope_theta} with {@code rope_scaling})
 * @param localRope the rotary table of sliding-window layers when they have their own (Gemma3), else null
 * @param tieWordEmbeddings whether {@code lm_head} shares the embedding matrix
 * @param torchDtype dtype written to {@code config.json} ("float32", "bfloat16", "float16")
 * @param qkvBias biases on the q, k and v projections
 * @param oBias a bias on the o projection
 * @param mlpBias biases on the gate, up and down projections
 * @param slidingWindow the window of sliding-window layers (0: none)
 * @param slidingLayers per layer, whether it attends through the sliding window (null: none does)
 * @param queryPreAttnScalar attention scores are scaled by its inverse square root (0: head_dim)
 * @param initializerRange standard deviation of a fresh model's linear and embedding weights
 * @param carried keys read that have no effect on training, written back as read (token ids, ...)
 * @param multimodalTextPart read from the text part of a multimodal checkpoint ({@code gemma3}): its weights are
 *                           stored under {@code language_model.model.*} or {@code model.language_model.*}, its
 *                           vision tensors are skipped ({@link HfCheckpoint#parameterName}); written back as the
 *                           text model
 */
public record ModelConfig(
        String modelType, int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
        int numAttentionHeads, int numKeyValueHeads, int headDim, int maxPositionEmbeddings, double rmsNormEps,
        Rope rope, Rope localRope, boolean tieWordEmbeddings, String torchDtype, boolean qkvBias, boolean oBias,
        boolean mlpBias, int slidingWindow, List<Boolean> slidingLayers, double queryPreAttnScalar,
        double initializerRange, Map<String, Object> carried, boolean multimodalTextPart) {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    /** Fills defaults for missing values and checks the shapes fit together. */
    public ModelConfig {
        ModelFamilies.forType(modelType);
        if (numKeyValueHeads == 0) {
            numKeyValueHeads = numAttentionHeads;
        }
        if (maxPositionEmbeddings == 0) {
            maxPositionEmbeddings = 2048;
        }
        if (rmsNormEps == 0) {
            rmsNormEps = 1e-6;
        }
        if (rope == null) {
            rope = Rope.plain(10000.0);
        }
        if (torchDtype == null) {
            torchDtype = "float32";
        }
        if (initializerRange == 0) {
            initializerRange = 0.02;
        }
        require(vocabSize > 0, "vocab_size must be > 0");
        require(hiddenSize > 0, "hidden_size must be > 0");
        require(intermediateSize > 0, "intermediate_size must be > 0");
        require(numHiddenLayers > 0, "num_hidden_layers must be > 0");
        require(numAttentionHeads > 0, "num_attention_heads must be > 0");
        if (headDim == 0) {
            require(hiddenSize % numAttentionHeads == 0, "hidden_size (" + hiddenSize
                    + ") must be divisible by num_attention_heads (" + numAttentionHeads + ") when head_dim is not set");
            headDim = hiddenSize / numAttentionHeads;
        }
        require(numAttentionHeads % numKeyValueHeads == 0, "num_attention_heads (" + numAttentionHeads
                + ") must be divisible by num_key_value_heads (" + numKeyValueHeads + ")");
        require(headDim % 2 == 0, "head_dim (" + headDim + ") must be even (rotary embedding)");
        if (queryPreAttnScalar == 0) {
            queryPreAttnScalar = headDim;
        }
        if (slidingLayers == null) {
            slidingLayers = Collections.nCopies(numHiddenLayers, false);
        }
        slidingLayers = List.copyOf(slidingLayers);
        require(slidingLayers.size() == numHiddenLayers, "layer_types has " + slidingLayers.size()
                + " entries for " + numHiddenLayers + " layers");
        require(slidingWindow > 0 || !slidingLayers.contains(true), "sliding-window layers need sliding_window > 0");
        carried = Collections.unmodifiableMap(new LinkedHashMap<>(carried == null ? Map.of() : carried));
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("config.json: " + message);
        }
    }

    /**
     * A Llama config with plain RoPE, no biases and no sliding window (the reference spec's shapes).
     */
    public static ModelConfig llama(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
                                    int numAttentionHeads, int numKeyValueHeads, int maxPositionEmbeddings,
                                    double rmsNormEps, double ropeTheta, boolean tieWordEmbeddings,
                                    String torchDtype) {
        return new ModelConfig("llama", vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
                numKeyValueHeads, 0, maxPositionEmbeddings, rmsNormEps, Rope.plain(ropeTheta), null,
                tieWordEmbeddings, torchDtype, false, false, false, 0, null, 0, 0, Map.of(), false);
    }

    /** The benchmark shapes of the reference spec: {@code llama-tiny} and {@code llama-small}. */
    public static ModelConfig shape(String name) {
        return switch (name) {
            case "llama-tiny" -> llama(4096, 256, 688, 4, 8, 4, 2048, 1e-5, 10000, false, "float32");
            case "llama-small" -> llama(8192, 512, 1376, 8, 8, 4, 2048, 1e-5, 10000, false, "float32");
            default -> throw new IllegalArgumentException(
                    "unknown shape '" + name + "'; expected one of " + List.of("llama-tiny", "llama-small"));
        };
    }

    /** The family that declares this model. */
    public ModelFamily family() {
        return ModelFamilies.forType(modelType);
    }

    /** What the family changes in the decoder. */
    public Deltas deltas() {
        return family().deltas();
    }

    /** Hugging Face's class name of a decoder layer ({@code LlamaDecoderLayer}, {@code Qwen3DecoderLayer}, ...). */
    public String decoderLayerClass() {
        return family().decoderLayerClass();
    }

    /** The base of the full-attention layers' rotary table. */
    public double ropeTheta() {
        return rope.theta();
    }

    /** Whether layer {@code i} attends through the sliding window. */
    public boolean sliding(int layer) {
        return slidingLayers.get(layer);
    }

    /** The key window of layer {@code i}: {@link #slidingWindow} for a sliding layer, else 0 (all earlier keys). */
    public int window(int layer) {
        return sliding(layer) ? slidingWindow : 0;
    }

    /** The rotary table of layer {@code i}. */
    public Rope rope(int layer) {
        return sliding(layer) && localRope != null ? localRope : rope;
    }

    /** The factor attention scores are scaled by: {@code query_pre_attn_scalar^-1/2} (head_dim unless set). */
    public double attentionScale() {
        return 1.0 / Math.sqrt(queryPreAttnScalar);
    }

    /** Query heads x head_dim: the q projection's outputs and the o projection's inputs. */
    public long queryWidth() {
        return (long) numAttentionHeads * headDim;
    }

    /** Key/value heads x head_dim: the k and v projections' outputs. */
    public long keyValueWidth() {
        return (long) numKeyValueHeads * headDim;
    }

    /** Every parameter, in the model's fixed order (tied weights once), with what the model declares about it. */
    public List<ParameterSpec> parameterSpecs() {
        return ParameterLayout.specs(this);
    }

    /** One parameter's declaration. */
    public ParameterSpec spec(String name) {
        ParameterSpec s = ParameterLayout.byName(this).get(name);
        if (s != null) {
            return s;
        }
        throw new IllegalArgumentException("not a parameter of " + family().architectures().get(0)
                + " with this config.json: " + name);
    }

    /** HF names of every parameter, in the model's fixed order. */
    public List<String> parameterNames() {
        return parameterSpecs().stream().map(ParameterSpec::name).toList();
    }

    /** Global shape of a named parameter. */
    public long[] parameterShape(String name) {
        return spec(name).shape();
    }

    /**
     * What a tensor-parallel degree cannot split evenly in a model of this shape, one message per problem (empty
     * when {@code tp} divides attention heads, key/value heads, intermediate size and vocabulary).
     */
    public List<String> tensorParallelProblems(int tp) {
        List<String> problems = new ArrayList<>();
        if (numAttentionHeads % tp != 0) {
            problems.add("num_attention_heads (" + numAttentionHeads + ")");
        }
        if (numKeyValueHeads % tp != 0) {
            problems.add("num_key_value_heads (" + numKeyValueHeads + "; key/value heads are not replicated "
                    + "across tensor-parallel ranks)");
        }
        if (intermediateSize % tp != 0) {
            problems.add("intermediate_size (" + intermediateSize + ")");
        }
        if (vocabSize % tp != 0) {
            problems.add("vocab_size (" + vocabSize + ")");
        }
        return problems;
    }

    /**
     * Checks that {@code tp} divides what tensor parallel splits.
     *
     * @throws IllegalArgumentException naming every factor it does not divide
     */
    public void requireTensorParallel(int tp) {
        List<String> problems = tensorParallelProblems(tp);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("tensor_parallel_size (" + tp + ") must divide "
                    + String.join(", ", problems));
        }
    }

    /**
     * Reads a Hugging Face {@code config.json} strictly: the family named by {@code model_type} (or by
     * {@code architectures} when it has none; Llama when neither is there) reads its keys, and any key nobody acts
     * on and that is not known to have no effect is refused, naming the file and the key.
     *
     * @throws IllegalArgumentException one line naming the file, the key and what was expected
     */
    public static ModelConfig read(Path configJson) {
        Map<String, Object> raw;
        try {
            raw = JSON.readValue(configJson.toFile(), Map.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(configJson + ": not valid JSON (" + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()) + ")");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + configJson + ": " + e.getMessage(), e);
        }
        if (raw == null) {
            throw new IllegalArgumentException(configJson + ": not a JSON object");
        }
        return parse(raw, configJson);
    }

    /** {@link #read} over an already parsed object ({@code file} names it in messages). */
    public static ModelConfig parse(Map<String, Object> raw, Path file) {
        ConfigJson json = new ConfigJson(raw, file, "");
        String type = json.string("model_type", null);
        List<String> arch = json.strings("architectures");
        ModelFamily family;
        if (type != null) {
            family = ModelFamilies.find(type).orElseThrow(() -> new IllegalArgumentException(file + ": model_type '"
                    + type + "' is not supported" + ModelFamilies.refusal(type) + "; built: "
                    + ModelFamilies.modelTypes()));
        } else if (arch != null && !arch.isEmpty()) {
            family = ModelFamilies.forArchitecture(arch.get(0)).orElseThrow(() -> new IllegalArgumentException(
                    file + ": architectures " + arch + " is not supported; built: "
                            + ModelFamilies.architectures()));
        } else {
            family = ModelFamilies.forType("llama");
        }
        if (arch != null && (arch.size() != 1 || !family.architectures().contains(arch.get(0)))) {
            throw json.error("architectures", arch, "one of " + family.architectures() + " for model_type '"
                    + family.modelType() + "' (axolotl-java trains causal language models)");
        }
        return family.read(json);
    }

    /** The {@code config.json} object this config writes: the common keys, the family's, then the carried ones. */
    public Map<String, Object> toJson() {
        ModelFamily family = family();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("architectures", List.of(family.architectures().get(0)));
        out.put("model_type", modelType);
        out.put("vocab_size", vocabSize);
        out.put("hidden_size", hiddenSize);
        out.put("intermediate_size", intermediateSize);
        out.put("num_hidden_layers", numHiddenLayers);
        out.put("num_attention_heads", numAttentionHeads);
        out.put("num_key_value_heads", numKeyValueHeads);
        out.put("head_dim", headDim);
        out.put("max_position_embeddings", maxPositionEmbeddings);
        out.put("rms_norm_eps", rmsNormEps);
        out.put("rope_theta", rope.theta());
        out.put("rope_scaling", rope.scalingJson());
        out.put("tie_word_embeddings", tieWordEmbeddings);
        out.put("initializer_range", initializerRange);
        out.put("torch_dtype", torchDtype);
        family.writeKeys(this, out);
        carried.forEach(out::putIfAbsent);
        return out;
    }

    /** Writes this config as a Hugging Face {@code config.json}. */
    public void write(Path configJson) throws IOException {
        Files.writeString(configJson, JSON.writeValueAsString(toJson()));
    }

    /** A copy read as the text part of a multimodal checkpoint (or not). */
    public ModelConfig withMultimodalTextPart(boolean textPart) {
        return new ModelConfig(modelType, vocabSize, hiddenSize, intermediateSize, numHiddenLayers,
                numAttentionHeads, numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps, rope, localRope,
                tieWordEmbeddings, torchDtype, qkvBias, oBias, mlpBias, slidingWindow, slidingLayers,
                queryPreAttnScalar, initializerRange, carried, textPart);
    }

    /** A copy with another vocabulary size. */
    public ModelConfig withVocabSize(int v) {
        return new ModelConfig(modelType, v, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
                numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps, rope, localRope, tieWordEmbeddings,
                torchDtype, qkvBias, oBias, mlpBias, slidingWindow, slidingLayers, queryPreAttnScalar,
                initializerRange, carried, multimodalTextPart);
    }

    /** A copy with tied or untied embeddings. */
    public ModelConfig withTiedEmbeddings(boolean tied) {
        return new ModelConfig(modelType, vocabSize, hiddenSize, intermediateSize, numHiddenLayers,
                numAttentionHeads, numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps, rope, localRope,
                tied, torchDtype, qkvBias, oBias, mlpBias, slidingWindow, slidingLayers, queryPreAttnScalar,
                initializerRange, carried, multimodalTextPart);
    }

    /** A copy with another dtype label for {@code config.json}. */
    public ModelConfig withTorchDtype(String dtype) {
        return new ModelConfig(modelType, vocabSize, hiddenSize, intermediateSize, numHiddenLayers,
                numAttentionHeads, numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps, rope, localRope,
                tieWordEmbeddings, dtype, qkvBias, oBias, mlpBias, slidingWindow, slidingLayers, queryPreAttnScalar,
                initializerRange, carried, multimodalTextPart);
    }
}
