package ai.axolotl.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/**
 * Every key of real {@code config.json} files is acted on, known to have no effect (and written back), or refused
 * naming the file and the key; the export writes back what was read.
 */
class ModelConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path real(String name) {
        return Path.of("src/test/resources/hf-configs", name + ".json");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> raw(String name) throws Exception {
        return JSON.readValue(real(name).toFile(), LinkedHashMap.class);
    }

    /** Writes {@code raw} with {@code changes} applied (a null value removes the key) and reads it. */
    static ModelConfig with(Path dir, String name, Map<String, Object> changes) throws Exception {
        Map<String, Object> m = raw(name);
        changes.forEach((k, v) -> {
            if (v == null) {
                m.remove(k);
            } else {
                m.put(k, v);
            }
        });
        Path f = dir.resolve(name + "-changed.json");
        Files.writeString(f, JSON.writeValueAsString(m));
        return ModelConfig.read(f);
    }

    private static void roundTrips(ModelConfig c, Path dir) throws Exception {
        Path out = dir.resolve("written-" + c.modelType() + ".json");
        c.write(out);
        assertThat(ModelConfig.read(out)).as("written and read back").isEqualTo(c);
    }

    @Test
    void llama32ReadsItsRopeScalingHeadDimTiesAndTokenIdsAndWritesThemBack(@TempDir Path dir) throws Exception {
        ModelConfig c = ModelConfig.read(real("Llama-3.2-1B"));
        assertThat(c.family().modelType()).isEqualTo("llama");
        assertThat(c.headDim()).isEqualTo(64);
        assertThat(c.rope()).isEqualTo(new Rope(500000, "llama3", 32, 1, 4, 8192));
        assertThat(c.tieWordEmbeddings()).isTrue();
        assertThat(c.torchDtype()).isEqualTo("bfloat16");
        assertThat(c.parameterShape("model.layers.0.self_attn.q_proj.weight")).containsExactly(2048, 2048);
        assertThat(c.parameterShape("model.layers.0.self_attn.k_proj.weight")).containsExactly(512, 2048);
        assertThat(c.parameterNames()).doesNotContain("lm_head.weight")
                .noneMatch(n -> n.endsWith(".bias"));
        assertThat(c.carried()).containsEntry("bos_token_id", 128000).containsEntry("eos_token_id", 128001)
                .containsKeys("transformers_version", "use_cache");
        Map<String, Object> out = c.toJson();
        assertThat(out).containsEntry("head_dim", 64).containsEntry("bos_token_id", 128000)
                .containsEntry("eos_token_id", 128001).containsEntry("torch_dtype", "bfloat16");
        assertThat(out.get("rope_scaling")).isEqualTo(Map.of("rope_type", "llama3", "factor", 32.0,
                "low_freq_factor", 1.0, "high_freq_factor", 4.0, "original_max_position_embeddings", 8192));
        roundTrips(c, dir);
    }

    /** The golden values of make_goldens.py (transformers' _compute_llama3_parameters replayed in numpy). */
    @Test
    void llama3InverseFrequenciesOfLlama32AreTransformers() throws Exception {
        ModelConfig c = ModelConfig.read(real("Llama-3.2-1B"));
        List<?> golden = JSON.readValue(Path.of("src/test/resources/families/llama3_inv_freq_llama32_1b.json")
                .toFile(), List.class);
        float[] inv = c.rope().inverseFrequencies(c.headDim());
        assertThat(inv).hasSize(32);
        for (int i = 0; i < inv.length; i++) {
            double g = ((Number) golden.get(i)).doubleValue();
            assertThat((double) inv[i]).as("inv_freq[" + i + "]").isCloseTo(g, within(Math.abs(g) * 1e-6));
        }
        float[] plain = Rope.plain(500000).inverseFrequencies(64);
        assertThat(inv[0]).as("high frequencies unchanged").isEqualTo(plain[0]);
        assertThat((double) inv[31]).as("low frequencies divided by the factor").isCloseTo(plain[31] / 32.0,
                within(plain[31] * 1e-6));
    }

    @Test
    void qwen25HasQkvBiasesAndItsInertWindowKeysAreCarried(@TempDir Path dir) throws Exception {
        ModelConfig c = ModelConfig.read(real("Qwen2.5-0.5B"));
        assertThat(c.qkvBias()).isTrue();
        assertThat(c.oBias()).isFalse();
        assertThat(c.slidingLayers()).doesNotContain(true);
        assertThat(c.parameterShape("model.layers.3.self_attn.q_proj.bias")).containsExactly(896);
        assertThat(c.parameterShape("model.layers.3.self_attn.k_proj.bias")).containsExactly(128);
        assertThat(c.parameterNames()).doesNotContain("model.layers.3.self_attn.o_proj.bias");
        assertThat(c.spec("model.layers.3.self_attn.q_proj.bias").tensorParallel())
                .isEqualTo(TensorParallelStyle.COLUMN);
        assertThat(c.carried()).containsEntry("sliding_window", 32768).containsEntry("max_window_layers", 24);
        assertThat(c.toJson()).containsEntry("sliding_window", 32768).containsEntry("use_sliding_window", false);
        roundTrips(c, dir);
        ModelConfig windowed = with(dir, "Qwen2.5-0.5B", Map.of("use_sliding_window", true, "sliding_window", 64,
                "max_window_layers", 20));
        assertThat(windowed.slidingLayers().subList(0, 20)).containsOnly(false);
        assertThat(windowed.slidingLayers().subList(20, 24)).containsOnly(true);
        assertThat(windowed.window(21)).isEqualTo(64);
        roundTrips(windowed, dir);
    }

    @Test
    void qwen3HasAnExplicitHeadDimAndPartialGradientQkNorms(@TempDir Path dir) throws Exception {
        ModelConfig c = ModelConfig.read(real("Qwen3-0.6B"));
        assertThat(c.headDim()).isEqualTo(128);
        assertThat(c.parameterShape("model.layers.0.self_attn.q_proj.weight")).containsExactly(2048, 1024);
        assertThat(c.parameterShape("model.layers.0.self_attn.o_proj.weight")).containsExactly(1024, 2048);
        ParameterSpec qNorm = c.spec("model.layers.0.self_attn.q_norm.weight");
        assertThat(qNorm.shape()).containsExactly(128);
        assertThat(qNorm.gradient()).isEqualTo(GradientPlacement.PARTIAL);
        assertThat(qNorm.decays()).isFalse();
        assertThat(c.spec("model.layers.0.input_layernorm.weight").gradient())
                .isEqualTo(GradientPlacement.PARTIAL_UNDER_SEQUENCE_PARALLEL);
        assertThat(c.decoderLayerClass()).isEqualTo("Qwen3DecoderLayer");
        roundTrips(c, dir);
    }

    @Test
    void mistralSlidesEveryLayerAndDefaultsTheWindowAsTransformersDoes(@TempDir Path dir) throws Exception {
        ModelConfig c = ModelConfig.read(real("Mistral-7B-v0.1"));
        assertThat(c.slidingLayers()).hasSize(32).containsOnly(true);
        assertThat(c.window(0)).isEqualTo(4096);
        assertThat(c.headDim()).isEqualTo(128);
        roundTrips(c, dir);
        Map<String, Object> absent = new LinkedHashMap<>();
        absent.put("sliding_window", null);
        assertThat(with(dir, "Mistral-7B-v0.1", absent).window(0)).as("absent key: 4096").isEqualTo(4096);
        Path v02 = dir.resolve("v02.json");
        Map<String, Object> m = raw("Mistral-7B-v0.1");
        m.put("sliding_window", null);
        Files.writeString(v02, JSON.writeValueAsString(m));
        ModelConfig noWindow = ModelConfig.read(v02);
        assertThat(noWindow.slidingLayers()).as("null: no window (v0.2, v0.3)").containsOnly(false);
        roundTrips(noWindow, dir);
    }

    @Test
    void gemma3TextHasItsLayerPatternTwoRopeTablesAndGemmaNorms(@TempDir Path dir) throws Exception {
        ModelConfig c = ModelConfig.read(real("gemma-3-1b-it"));
        assertThat(c.deltas().norm()).isEqualTo(Deltas.NormStyle.GEMMA);
        for (int i = 0; i < 26; i++) {
            assertThat(c.sliding(i)).as("layer " + i).isEqualTo((i + 1) % 6 != 0);
        }
        assertThat(c.window(0)).isEqualTo(512);
        assertThat(c.window(5)).isZero();
        assertThat(c.rope(5).theta()).isEqualTo(1_000_000);
        assertThat(c.rope(0).theta()).isEqualTo(10_000);
        assertThat(c.attentionScale()).isEqualTo(1.0 / 16);
        assertThat(c.tieWordEmbeddings()).as("Gemma's default").isTrue();
        assertThat(c.spec("model.layers.0.post_feedforward_layernorm.weight").init())
                .isEqualTo(ParameterSpec.Init.ZEROS);
        assertThat(c.carried()).containsEntry("eos_token_id", List.of(1, 106)).containsEntry("pad_token_id", 0);
        roundTrips(c, dir);
    }

    @Test
    void transformersV5LayoutReadsAsV4(@TempDir Path dir) throws Exception {
        Map<String, Object> v5 = new LinkedHashMap<>();
        v5.put("rope_scaling", null);
        v5.put("rope_theta", null);
        v5.put("torch_dtype", null);
        v5.put("dtype", "bfloat16");
        v5.put("rope_parameters", Map.of("rope_type", "llama3", "rope_theta", 500000.0, "factor", 32.0,
                "low_freq_factor", 1.0, "high_freq_factor", 4.0, "original_max_position_embeddings", 8192));
        assertThat(with(dir, "Llama-3.2-1B", v5)).isEqualTo(ModelConfig.read(real("Llama-3.2-1B")));
        Map<String, Object> gemma = new LinkedHashMap<>();
        gemma.put("rope_theta", null);
        gemma.put("rope_local_base_freq", null);
        gemma.put("rope_scaling", null);
        gemma.put("rope_parameters", Map.of(
                "full_attention", Map.of("rope_type", "linear", "factor", 8.0, "rope_theta", 1000000.0),
                "sliding_attention", Map.of("rope_type", "default", "rope_theta", 10000.0)));
        ModelConfig g = with(dir, "gemma-3-1b-it", gemma);
        assertThat(g.rope(5)).isEqualTo(new Rope(1_000_000, "linear", 8, 0, 0, 0));
        assertThat(g.rope(0)).isEqualTo(Rope.plain(10_000));
    }

    @Test
    void keysNotBuiltAreRefusedNamingTheFileAndTheKey(@TempDir Path dir) {
        assertRefused(dir, "Llama-3.2-1B", Map.of("foo_bar", 1), "foo_bar = 1");
        assertRefused(dir, "Llama-3.2-1B", Map.of("rope_scaling", Map.of("rope_type", "yarn", "factor", 4.0)),
                "rope_scaling.rope_type = 'yarn'");
        assertRefused(dir, "Llama-3.2-1B", Map.of("hidden_act", "gelu"), "hidden_act = 'gelu'");
        assertRefused(dir, "Llama-3.2-1B", Map.of("attention_dropout", 0.1), "attention_dropout = 0.1");
        assertRefused(dir, "Llama-3.2-1B", Map.of("pretraining_tp", 2), "pretraining_tp = 2");
        assertRefused(dir, "Llama-3.2-1B", Map.of("architectures", List.of("LlamaForSequenceClassification")),
                "architectures");
        assertRefused(dir, "Llama-3.2-1B", Map.of("quantization_config", Map.of("quant_method", "bitsandbytes")),
                "quantization_config");
        assertRefused(dir, "gemma-3-1b-it", Map.of("final_logit_softcapping", 30.0), "final_logit_softcapping = 30.0");
        assertRefused(dir, "gemma-3-1b-it", Map.of("attn_logit_softcapping", 50.0), "attn_logit_softcapping = 50.0");
        assertRefused(dir, "Mistral-7B-v0.1", Map.of("num_local_experts", 8), "num_local_experts = 8");
        assertRefused(dir, "Mistral-7B-v0.1", Map.of("model_type", "mixtral"), "mixture-of-experts");
        assertRefused(dir, "Qwen3-0.6B", Map.of("model_type", "qwen3_moe"), "model_type 'qwen3_moe'");
        assertRefused(dir, "Qwen2.5-0.5B", Map.of("use_mrope", true), "use_mrope = true");
        assertRefused(dir, "Qwen2.5-0.5B", Map.of("torch_dtype", "int8"), "torch_dtype = 'int8'");
    }

    private static void assertRefused(Path dir, String name, Map<String, Object> changes, String expected) {
        assertThatThrownBy(() -> with(dir, name, changes)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(name + "-changed.json").hasMessageContaining(expected)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }

    @Test
    void aConfigWithoutModelTypeIsLlama(@TempDir Path dir) throws Exception {
        Map<String, Object> none = new LinkedHashMap<>();
        none.put("model_type", null);
        none.put("architectures", null);
        assertThat(with(dir, "Llama-3.2-1B", none).modelType()).isEqualTo("llama");
        Map<String, Object> byArchitecture = new LinkedHashMap<>();
        byArchitecture.put("model_type", null);
        assertThat(with(dir, "Qwen3-0.6B", byArchitecture).modelType()).isEqualTo("qwen3");
    }
}
