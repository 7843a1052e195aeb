package ai.axolotl.model;

import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Each family's forward against golden logits computed outside the Java code path: {@code families/make_goldens.py}
 * replays transformers' formulas in numpy on a tiny checkpoint in HF's layout (checked in with its output).
 */
class FamilyGoldenTest {
    static final Path FAMILIES = Path.of("src/test/resources/families");
    static final List<String> NAMES = List.of("llama", "mistral", "qwen2", "qwen3", "gemma3_text");

    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    static Tensor row(long[] values) {
        return Tensors.longs(values, 1, values.length);
    }

    static ForwardContext oneSequence(int t, ModelConfig c, ScalarType type) {
        long[] pos = new long[t];
        long[] seg = new long[t];
        for (int i = 0; i < t; i++) {
            pos[i] = i;
            seg[i] = 1;
        }
        return new ForwardContext(row(pos), row(seg), c, type);
    }

    /** Max |logits - golden| of the family's checkpoint run with parameters and activations of {@code type}. */
    static double goldenDiff(String family, ScalarType type) throws Exception {
        Path dir = FAMILIES.resolve(family);
        JsonNode golden = new ObjectMapper().readTree(dir.resolve("golden.json").toFile());
        long[] ids = new long[golden.get("input_ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = golden.get("input_ids").get(i).asLong();
        }
        int vocab = golden.get("shape").get(1).asInt();
        double[] expected = new double[ids.length * vocab];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = golden.get("logits").get(i).asDouble();
        }
        ModelConfig config = ModelConfig.read(dir.resolve(HfCheckpoint.CONFIG));
        Map<String, Tensor> weights = HfCheckpoint.readWeights(dir);
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            DecoderModel m = DecoderModel.fromWeights(config, weights, dir.toString(), type);
            Tensor logits = m.logits(row(ids), oneSequence(ids.length, config, type));
            assertThat(logits.shape()).containsExactly(1, ids.length, vocab);
            Tensor flat = logits.to(ScalarType.Double).reshape(-1).contiguous();
            double max = 0;
            for (int i = 0; i < expected.length; i++) {
                max = Math.max(max, Math.abs(flat.get(i).item_double() - expected[i]));
            }
            return max;
        } finally {
            weights.values().forEach(Tensor::close);
        }
    }

    @Test
    void everyFamilysForwardEqualsTransformersFormulasReplayedInNumpy() throws Exception {
        for (String family : NAMES) {
            System.out.printf("golden %s: max |diff| fp32 %.3g, fp64 %.3g%n", family,
                    goldenDiff(family, ScalarType.Float), goldenDiff(family, ScalarType.Double));
            assertThat(goldenDiff(family, ScalarType.Float)).as(family + " fp32").isLessThan(1e-5);
            // in fp64 only the rotary tables stay float32 (as transformers computes them), where libtorch's and
            // numpy's cos/sin may differ by an ulp (6e-8): measured up to 2e-7 on the logits
            assertThat(goldenDiff(family, ScalarType.Double)).as(family + " fp64").isLessThan(1e-6);
        }
    }

    /** A key the family acts on changes the forward: the same weights read as the other families' layout fail. */
    @Test
    void theDeclaredDeltasAreWhatTheGoldensCheck() throws Exception {
        // the Gemma checkpoint's config with the Gemma norm style, scale and activation switched off would be
        // another model: checked by reading its weights as a Qwen3 model (same names but the sandwich norms)
        Path dir = FAMILIES.resolve("mistral");
        Map<String, Object> raw = new ObjectMapper().readValue(dir.resolve("config.json").toFile(), LinkedHashMap.class);
        raw.put("sliding_window", null);
        ModelConfig noWindow = ModelConfig.parse(raw, dir.resolve("config.json"));
        Map<String, Tensor> weights = HfCheckpoint.readWeights(dir);
        JsonNode golden = new ObjectMapper().readTree(dir.resolve("golden.json").toFile());
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            DecoderModel m = DecoderModel.fromWeights(noWindow, weights, "test", ScalarType.Double);
            long[] ids = new long[12];
            for (int i = 0; i < 12; i++) {
                ids[i] = golden.get("input_ids").get(i).asLong();
            }
            Tensor logits = m.logits(row(ids), oneSequence(12, noWindow, ScalarType.Double));
            double first = logits.get(0).get(0).get(0).item_double();
            double last = logits.get(0).get(11).get(0).item_double();
            int vocab = golden.get("shape").get(1).asInt();
            assertThat(first).as("inside the window nothing changes")
                    .isCloseTo(golden.get("logits").get(0).asDouble(), org.assertj.core.api.Assertions.within(1e-9));
            assertThat(Math.abs(last - golden.get("logits").get(11 * vocab).asDouble()))
                    .as("past the window the keys it hides change the logits").isGreaterThan(1e-4);
        } finally {
            weights.values().forEach(Tensor::close);
        }
    }

    /** Key j is visible to query i iff same segment, j <= i and i - j < window: against an explicit loop. */
    @Test
    void slidingWindowMaskIsTransformersRuleWithinPackedSamples() {
        long[] seg = {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2};
        int t = seg.length;
        for (int window : new int[] {0, 1, 3, 4, 20}) {
            try (PointerScope scope = new PointerScope()) {
                Tensor mask = ForwardContext.mask(row(seg), window);
                assertThat(mask.shape()).containsExactly(1, 1, t, t);
                for (int i = 0; i < t; i++) {
                    for (int j = 0; j < t; j++) {
                        boolean expected = seg[i] == seg[j] && j <= i && (window <= 0 || i - j < window);
                        assertThat(mask.get(0).get(0).get(i).get(j).item_bool()).as("window " + window + " q" + i
                                + " k" + j).isEqualTo(expected);
                    }
                }
            }
        }
    }

    /** Gemma's embedding scale is rounded to the compute type: 55.5 in bf16 for hidden 3072, 55.4256 in fp32. */
    @Test
    void gemmaEmbeddingScaleIsRoundedToTheComputeType() {
        Map<String, Object> raw = new LinkedHashMap<>();
        raw.put("model_type", "gemma3_text");
        raw.put("vocab_size", 4);
        raw.put("hidden_size", 3072);
        raw.put("intermediate_size", 8);
        raw.put("num_hidden_layers", 1);
        raw.put("num_attention_heads", 1);
        raw.put("num_key_value_heads", 1);
        raw.put("head_dim", 4);
        ModelConfig c = ModelConfig.parse(raw, Path.of("gemma-3072.json"));
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            Tensor w = torch.ones(new long[] {4, 3072}, Tensors.options(ScalarType.Float));
            EmbeddingUnit embed = new EmbeddingUnit(c, w, ModelParallelism.NONE);
            Tensor bf16 = embed.forward(row(new long[] {2}), oneSequence(1, c, ScalarType.BFloat16));
            assertThat(bf16.get(0).get(0).get(0).item_double()).isEqualTo(55.5);
            Tensor fp32 = embed.forward(row(new long[] {2}), oneSequence(1, c, ScalarType.Float));
            assertThat(fp32.get(0).get(0).get(0).item_double()).isEqualTo((double) (float) Math.sqrt(3072));
        }
    }

    @Test
    void anExtraOrMissingTensorIsAnErrorNamingIt(@TempDir Path tmp) throws Exception {
        Path dir = FAMILIES.resolve("qwen2");
        ModelConfig config = ModelConfig.read(dir.resolve(HfCheckpoint.CONFIG));
        Map<String, Tensor> weights = HfCheckpoint.readWeights(dir);
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> extra = new LinkedHashMap<>(weights);
            extra.put("model.layers.0.self_attn.o_proj.bias", torch.zeros(new long[] {32}));
            assertThatThrownBy(() -> DecoderModel.fromWeights(config, extra, "qwen2 dir"))
                    .hasMessageContaining("unexpected tensor 'model.layers.0.self_attn.o_proj.bias'")
                    .hasMessageContaining("Qwen2ForCausalLM");
            Map<String, Tensor> missing = new LinkedHashMap<>(weights);
            missing.remove("model.layers.1.self_attn.k_proj.bias");
            assertThatThrownBy(() -> DecoderModel.fromWeights(config, missing, "qwen2 dir"))
                    .hasMessageContaining("missing tensor 'model.layers.1.self_attn.k_proj.bias'");
        } finally {
            weights.values().forEach(Tensor::close);
        }
    }

    /** Each family's checkpoint loads, is written back (config and weights) and reloads bit-identically. */
    @Test
    void everyFamilyExportsWhatItReadAndReloadsBitIdentically(@TempDir Path tmp) throws Exception {
        for (String family : NAMES) {
            Path dir = FAMILIES.resolve(family);
            ModelConfig config = ModelConfig.read(dir.resolve(HfCheckpoint.CONFIG));
            Path out = tmp.resolve(family);
            try (PointerScope scope = new PointerScope(); DecoderModel m = HfCheckpoint.load(dir)) {
                HfCheckpoint.save(out, config, m.parameters(), DType.F32, Long.MAX_VALUE);
            }
            assertThat(ModelConfig.read(out.resolve(HfCheckpoint.CONFIG))).as(family).isEqualTo(config);
            assertThat(Files.readAllBytes(out.resolve(HfCheckpoint.WEIGHTS))).as(family + " weights")
                    .isEqualTo(rewritten(out, tmp.resolve(family + "-again")));
            assertThat(goldenDiff(family, ScalarType.Float)).isLessThan(1e-5);
        }
    }

    private static byte[] rewritten(Path dir, Path again) throws Exception {
        ModelConfig config = ModelConfig.read(dir.resolve(HfCheckpoint.CONFIG));
        try (PointerScope scope = new PointerScope(); DecoderModel m = HfCheckpoint.load(dir)) {
            HfCheckpoint.save(again, config, m.parameters(), DType.F32, Long.MAX_VALUE);
        }
        return Files.readAllBytes(again.resolve(HfCheckpoint.WEIGHTS));
    }

    /**
     * The text part of a multimodal Gemma 3 checkpoint ({@code gemma3}: nested {@code text_config}, weights under
     * {@code language_model.model.*} or {@code model.language_model.*}, a vision tower beside them) gives the text
     * model's golden logits, and exports as that text model.
     */
    @Test
    void gemma3MultimodalCheckpointsTrainTheirTextPart(@TempDir Path tmp) throws Exception {
        Path textDir = FAMILIES.resolve("gemma3_text");
        ObjectMapper json = new ObjectMapper();
        Map<String, Object> textConfig = json.readValue(textDir.resolve("config.json").toFile(), LinkedHashMap.class);
        textConfig.remove("architectures");
        for (String prefix : new String[] {"language_model.model.", "model.language_model."}) {
            Path dir = Files.createDirectories(tmp.resolve(prefix.replace('.', '_')));
            Map<String, Object> config = new LinkedHashMap<>();
            config.put("architectures", List.of("Gemma3ForConditionalGeneration"));
            config.put("model_type", "gemma3");
            config.put("text_config", textConfig);
            config.put("vision_config", Map.of("model_type", "siglip_vision_model", "hidden_size", 8));
            config.put("mm_tokens_per_image", 256);
            config.put("boi_token_index", 255999);
            config.put("eoi_token_index", 256000);
            config.put("image_token_index", 262144);
            config.put("transformers_version", "4.50.0.dev0");
            json.writeValue(dir.resolve("config.json").toFile(), config);
            Map<String, Tensor> weights = HfCheckpoint.readWeights(textDir);
            try (PointerScope scope = new PointerScope()) {
                Map<String, long[]> shapes = new LinkedHashMap<>();
                Map<String, Tensor> stored = new LinkedHashMap<>();
                weights.forEach((n, t) -> stored.put(prefix + n.substring("model.".length()), t));
                stored.put("vision_tower.vision_model.embeddings.patch_embedding.weight",
                        torch.zeros(new long[] {8, 3, 2, 2}));
                stored.put("multi_modal_projector.mm_input_projection_weight", torch.zeros(new long[] {8, 32}));
                stored.forEach((n, t) -> shapes.put(n, t.shape()));
                try (SafetensorsWriter w = new SafetensorsWriter(dir.resolve(HfCheckpoint.WEIGHTS), shapes, DType.F32,
                        Map.of("format", "pt"))) {
                    for (Map.Entry<String, Tensor> e : stored.entrySet()) {
                        w.write(e.getKey(), e.getValue());
                    }
                }
            } finally {
                weights.values().forEach(Tensor::close);
            }
            ModelConfig read = ModelConfig.read(dir.resolve("config.json"));
            assertThat(read.multimodalTextPart()).isTrue();
            assertThat(read.withMultimodalTextPart(false))
                    .isEqualTo(ModelConfig.read(textDir.resolve("config.json")));
            JsonNode golden = json.readTree(textDir.resolve("golden.json").toFile());
            long[] ids = new long[12];
            for (int i = 0; i < 12; i++) {
                ids[i] = golden.get("input_ids").get(i).asLong();
            }
            try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard();
                 DecoderModel m = HfCheckpoint.load(dir)) {
                Tensor logits = m.logits(row(ids), oneSequence(12, read, ScalarType.Float)).reshape(-1);
                for (int i = 0; i < logits.numel(); i += 97) {
                    assertThat(logits.get(i).item_double()).as(prefix + " logit " + i)
                            .isCloseTo(golden.get("logits").get(i).asDouble(),
                                    org.assertj.core.api.Assertions.within(1e-5));
                }
                Path out = tmp.resolve("export-" + prefix.replace('.', '_'));
                HfCheckpoint.save(out, read, m.parameters(), DType.F32, Long.MAX_VALUE);
                assertThat(ModelConfig.read(out.resolve("config.json")).modelType()).isEqualTo("gemma3_text");
                assertThat(Safetensors.entries(out.resolve(HfCheckpoint.WEIGHTS)).keySet())
                        .contains("model.layers.0.self_attn.q_norm.weight").noneMatch(n -> n.contains("vision"));
            }
        }
    }
}
