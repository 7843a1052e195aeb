package ai.axolotl.model.adapter;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DType;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.Safetensors;
import ai.axolotl.model.quant.Nf4Tensor;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static ai.axolotl.model.adapter.AdaptedModelTest.TINY;
import static ai.axolotl.model.adapter.AdaptedModelTest.ctx;
import static ai.axolotl.model.adapter.AdaptedModelTest.ids;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** merge-lora: the merged model computes what base + adapter compute; a QLoRA merge round-trips W through NF4. */
class LoraMergeTest {
    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    static AdapterSettings modulesToSave() {
        return new AdapterSettings("lora", 4, 8, 0, List.of("q_proj", "down_proj"), null, List.of(),
                List.of("embed_tokens"), false, null, "false", null, List.of());
    }

    @Test
    void theMergedModelComputesWhatBasePlusAdapterCompute(@TempDir Path dir) throws Exception {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            DecoderModel base = DecoderModel.initialise(TINY, 5);
            HfCheckpoint.save(dir.resolve("base"), TINY, base.parameters(), DType.F32, Long.MAX_VALUE);
            AdaptedModel m = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), modulesToSave(), 3);
            m.parameters().get("model.embed_tokens.weight").mul_(new org.bytedeco.pytorch.Scalar(1.5));
            try (PeftFiles.Writer w = PeftFiles.writer(dir.resolve("adapter"), m, "base")) {
                for (Map.Entry<String, Tensor> e : m.parameters().entrySet()) {
                    w.accept(e.getKey(), e.getValue());
                }
            }
            int changed = LoraMerge.merge(dir.resolve("base"), dir.resolve("adapter"), false, dir.resolve("merged"),
                    s -> { });
            assertThat(changed).isEqualTo(2 * 2 + 1);
            CausalLm merged = HfCheckpoint.load(dir.resolve("merged"));
            Tensor x = ids(13, 8);
            assertThat(Tensors.maxAbsDiff(merged.logits(x, ctx(13)), m.logits(x, ctx(13)))).isLessThan(1e-5);
            assertThat(Files.readString(dir.resolve("merged/config.json"))).contains("\"torch_dtype\" : \"float32\"");
        }
    }

    @Test
    void aQloraMergeRoundTripsTheAdaptedWeightsThroughNf4First(@TempDir Path dir) throws Exception {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            DecoderModel base = DecoderModel.initialise(TINY, 5);
            HfCheckpoint.save(dir.resolve("base"), TINY, base.parameters(), DType.BF16, Long.MAX_VALUE);
            AdapterSettings s = new AdapterSettings("lora", 2, 4, 0, List.of("v_proj"), null, List.of(), List.of(),
                    false, null, "false", null, List.of());
            AdaptedModel m = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), s, 3);
            try (PeftFiles.Writer w = PeftFiles.writer(dir.resolve("adapter"), m, "base")) {
                for (Map.Entry<String, Tensor> e : m.parameters().entrySet()) {
                    w.accept(e.getKey(), e.getValue());
                }
            }
            LoraMerge.merge(dir.resolve("base"), dir.resolve("adapter"), true, dir.resolve("merged"), x -> { });
            String v = "model.layers.1.self_attn.v_proj.weight";
            String k = "model.layers.1.self_attn.k_proj.weight";
            Map<String, Tensor> stored = Safetensors.read(dir.resolve("base/model.safetensors"));
            Map<String, Tensor> out = Safetensors.read(dir.resolve("merged/model.safetensors"));
            assertThat(Safetensors.entries(dir.resolve("merged/model.safetensors")).get(v).dtype())
                    .as("the base's dtype").isEqualTo(DType.BF16);
            Tensor w = stored.get(v);
            Tensor expected;
            try (Nf4Tensor q = Nf4Tensor.quantize(w, true); Tensor rt = q.dequantize(ScalarType.BFloat16)) {
                Tensor a = m.adapters().get("model.layers.1.self_attn.v_proj.lora_A.weight");
                Tensor b = m.adapters().get("model.layers.1.self_attn.v_proj.lora_B.weight");
                expected = rt.to(ScalarType.Float).add(b.matmul(a).mul(new org.bytedeco.pytorch.Scalar(2.0)))
                        .to(ScalarType.BFloat16);
            }
            assertThat(Tensors.maxAbsDiff(out.get(v).to(ScalarType.Float), expected.to(ScalarType.Float))).isZero();
            assertThat(Tensors.maxAbsDiff(out.get(k), stored.get(k))).as("not adapted: unchanged").isZero();
        }
    }

    @Test
    void aWrongShapeIsRefusedNamingTheTensor(@TempDir Path dir) throws Exception {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            DecoderModel base = DecoderModel.initialise(TINY, 5);
            HfCheckpoint.save(dir.resolve("base"), TINY, base.parameters(), DType.F32, Long.MAX_VALUE);
            Files.createDirectories(dir.resolve("adapter"));
            Files.writeString(dir.resolve("adapter/adapter_config.json"), "{\"peft_type\": \"LORA\", \"r\": 2, "
                    + "\"lora_alpha\": 4, \"target_modules\": [\"q_proj\"]}");
            Safetensors.write(dir.resolve("adapter/adapter_model.safetensors"), Map.of(
                    "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", org.bytedeco.pytorch.global
                            .torch.zeros(2, 15),
                    "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", org.bytedeco.pytorch.global
                            .torch.zeros(16, 2)), Map.of("format", "pt"));
            assertThatThrownBy(() -> LoraMerge.merge(dir.resolve("base"), dir.resolve("adapter"), false,
                    dir.resolve("merged"), s -> { }))
                    .hasMessageContaining("q_proj.lora_A.weight' has shape [2, 15], expected [2, 16]");
            assertThat(dir.resolve("merged/model.safetensors")).doesNotExist();
        }
    }
}
