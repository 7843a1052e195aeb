package ai.axolotl.model.adapter;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.Safetensors;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * LoRA as PEFT computes it: the adapted forward equals the dense forward over {@code W + s B A} merged (computed
 * here by plain tensor algebra, outside the adapter code), rsLoRA's scale, PEFT's target matching, what trains,
 * and PEFT's files both ways.
 */
class AdaptedModelTest {
    static final ModelConfig TINY = ModelConfig.llama(32, 16, 24, 2, 4, 2, 64, 1e-5, 10000, false, "float32");

    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    /** lora_r 4, lora_alpha 8, every linear projection, the given init. */
    static AdapterSettings lora(String init, boolean rslora) {
        return new AdapterSettings("lora", 4, 8, 0, List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                "up_proj", "down_proj"), null, List.of(), List.of(), rslora, null, init, null, List.of());
    }

    static AdapterSettings targets(List<String> list, String regex, List<Integer> layers, List<String> exclude) {
        return new AdapterSettings("lora", 2, 4, 0, list, regex, exclude, List.of(), false, layers, "true", null,
                List.of());
    }

    static Tensor ids(int t, long seed) {
        Random r = new Random(seed);
        long[] v = new long[t];
        for (int i = 0; i < t; i++) {
            v[i] = r.nextInt(TINY.vocabSize());
        }
        return Tensors.longs(v, 1, t);
    }

    static ForwardContext ctx(int t) {
        long[] pos = new long[t];
        long[] seg = new long[t];
        for (int i = 0; i < t; i++) {
            pos[i] = i;
            seg[i] = 1;
        }
        return new ForwardContext(Tensors.longs(pos, 1, t), Tensors.longs(seg, 1, t), TINY, ScalarType.Float);
    }

    /** The dense model over W + scaling * B A for every adapted W, made from the adapter's tensors by hand. */
    static CausalLm merged(AdaptedModel m, double scaling) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        m.frozenParameters().forEach((n, t) -> w.put(n, t.detach().clone()));
        for (String target : m.targets()) {
            String module = target.substring(0, target.lastIndexOf('.'));
            Tensor a = m.adapters().get(module + ".lora_A.weight");
            Tensor b = m.adapters().get(module + ".lora_B.weight");
            try (Tensor ba = b.detach().matmul(a.detach()); Tensor sba = ba.mul(new Scalar(scaling))) {
                w.put(target, w.get(target).add(sba));
            }
        }
        return DecoderModel.fromWeights(TINY, w, "merged");
    }

    @Test
    void forwardEqualsTheDenseForwardOverTheMergedWeights() {
        for (boolean rslora : new boolean[] {false, true}) {
            try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                AdaptedModel m = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), lora("false", rslora), 3);
                double scaling = rslora ? 8 / Math.sqrt(4) : 8.0 / 4;
                assertThat(m.settings().scaling()).isEqualTo(scaling);
                CausalLm dense = merged(m, scaling);
                CausalLm plain = DecoderModel.initialise(TINY, 5);
                Tensor x = ids(12, 1);
                Tensor a = m.logits(x, ctx(12));
                Tensor b = dense.logits(x, ctx(12));
                assertThat(Tensors.maxAbsDiff(a, b)).as("rslora " + rslora).isLessThan(1e-5);
                assertThat(Tensors.maxAbsDiff(a, plain.logits(x, ctx(12)))).as("the adapter changes the model")
                        .isGreaterThan(1e-2);
            }
        }
    }

    @Test
    void initTrueIsAnIdentityAtStepZeroAndDrawsAFromKaimingUniform() {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            AdaptedModel m = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), lora("true", false), 3);
            CausalLm plain = DecoderModel.initialise(TINY, 5);
            Tensor x = ids(10, 2);
            assertThat(Tensors.maxAbsDiff(m.logits(x, ctx(10)), plain.logits(x, ctx(10)))).isZero();
            Tensor a = m.adapters().get("model.layers.0.mlp.down_proj.lora_A.weight"); // in = 24
            assertThat(a.shape()).containsExactly(4, 24);
            double bound = 1 / Math.sqrt(24);
            assertThat(a.abs().max().item_double()).isLessThanOrEqualTo(bound).isGreaterThan(0.8 * bound);
            assertThat(m.adapters().get("model.layers.0.mlp.down_proj.lora_B.weight").shape()).containsExactly(16, 4);
            AdaptedModel again = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), lora("true", false), 3);
            assertThat(Tensors.maxAbsDiff(a, again.adapters().get("model.layers.0.mlp.down_proj.lora_A.weight")))
                    .as("seeded: every rank draws the same adapter").isZero();
            AdaptedModel gauss = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), lora("gaussian", false), 3);
            Tensor ga = gauss.adapters().get("model.layers.0.mlp.down_proj.lora_A.weight");
            assertThat(ga.std().item_double()).as("std 1/r").isBetween(0.15, 0.35);
        }
    }

    @Test
    void onlyTheAdapterTrainsAndTheBaseTakesNoGradient() {
        try (PointerScope scope = new PointerScope()) {
            AdaptedModel m = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), lora("false", false), 3);
            assertThat(m.parameters()).hasSize(2 * 7 * TINY.numHiddenLayers());
            assertThat(m.parameters().keySet()).allMatch(n -> n.contains(".lora_A.") || n.contains(".lora_B."));
            assertThat(m.frozenParameters()).hasSize(TINY.parameterNames().size());
            assertThat(m.units().get(0).parameters()).as("the embedding trains nothing").isEmpty();
            assertThat(m.units().get(1).parameters()).hasSize(14);
            assertThat(m.parameterCount()).isEqualTo(2L * (4 * (16 + 16) + 4 * (16 + 8) * 2 + 4 * (16 + 16)
                    + 3 * 4 * (16 + 24)));
            Tensor x = ids(10, 2);
            Tensor logits = m.logits(x, ctx(10));
            logits.sum().backward();
            for (Tensor t : m.frozenParameters().values()) {
                assertThat(t.requires_grad()).isFalse();
                assertThat(t.grad().defined()).isFalse();
            }
            for (Map.Entry<String, Tensor> e : m.parameters().entrySet()) {
                assertThat(e.getValue().grad().defined()).as(e.getKey()).isTrue();
            }
        }
    }

    @Test
    void targetsFollowPeftMatchingRules() {
        ModelConfig c = TINY;
        // a list entry matches a whole path or a dotted suffix
        assertThat(LoraTargets.weights(c, targets(List.of("q_proj", "self_attn.v_proj"), null, null, List.of())))
                .containsExactly("model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.v_proj.weight",
                        "model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight");
        // "proj" is not a suffix after a dot of any module
        assertThatThrownBy(() -> LoraTargets.weights(c, targets(List.of("proj"), null, null, List.of())))
                .hasMessageContaining("Target modules [proj] not found in the base model");
        // a string is a regex over the whole path (re.fullmatch)
        assertThat(LoraTargets.weights(c, targets(List.of(), ".*\\.1\\..*(up|down)_proj", null, List.of())))
                .containsExactly("model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight");
        assertThatThrownBy(() -> LoraTargets.weights(c, targets(List.of(), "q_proj", null, List.of())))
                .as("fullmatch, not search").hasMessageContaining("not found");
        // layers_to_transform keeps the listed .layers.<i>.; exclude_modules first
        assertThat(LoraTargets.weights(c, targets(List.of("q_proj", "k_proj"), null, List.of(1),
                List.of("k_proj")))).containsExactly("model.layers.1.self_attn.q_proj.weight");
        // lora_target_linear's list never takes lm_head; naming it explicitly is refused
        assertThat(LoraTargets.weights(c, lora("true", false))).hasSize(14).noneMatch(n -> n.contains("lm_head"));
        assertThatThrownBy(() -> LoraTargets.weights(c, targets(List.of("lm_head"), null, null, List.of())))
                .hasMessageContaining("LoRA on lm_head is not built");
        assertThatThrownBy(() -> LoraTargets.weights(c, targets(List.of("input_layernorm"), null, null, List.of())))
                .hasMessageContaining("not a linear projection");
        assertThatThrownBy(() -> LoraTargets.weights(c, targets(List.of("self_attn"), null, null, List.of())))
                .hasMessageContaining("not a linear projection");
    }

    @Test
    void modulesToSaveAndUnfrozenParametersTrainTheirBaseParameters() {
        AdapterSettings save = new AdapterSettings("lora", 2, 4, 0, List.of("q_proj"), null, List.of(),
                List.of("embed_tokens", "lm_head"), false, null, "true", null, List.of());
        assertThat(LoraTargets.trainableBase(TINY, save)).containsExactly("model.embed_tokens.weight",
                "lm_head.weight");
        AdapterSettings unfrozen = new AdapterSettings(null, 0, 0, 0, List.of(), null, List.of(), List.of(), false,
                null, "true", null, List.of("model.layers.1.mlp", "^lm_head.weight$"));
        assertThat(LoraTargets.trainableBase(TINY, unfrozen)).containsExactly("model.layers.1.mlp.gate_proj.weight",
                "model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight", "lm_head.weight");
        AdapterSettings none = new AdapterSettings(null, 0, 0, 0, List.of(), null, List.of(), List.of(), false,
                null, "true", null, List.of("model.layers.9"));
        assertThatThrownBy(() -> LoraTargets.trainableBase(TINY, none)).hasMessageContaining("match no parameter");
        try (PointerScope scope = new PointerScope()) {
            AdaptedModel m = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), save, 3);
            assertThat(m.units().get(0).parameters()).containsOnlyKeys("model.embed_tokens.weight");
            assertThat(m.parameters()).containsKeys("lm_head.weight", "model.layers.0.self_attn.q_proj.lora_A.weight");
            assertThat(m.spec("model.embed_tokens.weight").trainable()).isTrue();
            assertThat(m.spec("model.norm.weight").trainable()).isFalse();
        }
    }

    @Test
    void peftFilesRoundTripAndCarryPeftsKeysAndConfig(@TempDir Path dir) throws Exception {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            AdaptedModel m = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), lora("false", false), 3);
            try (PeftFiles.Writer w = PeftFiles.writer(dir, m, "meta-llama/Llama-3.2-1B")) {
                for (Map.Entry<String, Tensor> e : m.parameters().entrySet()) {
                    w.accept(e.getKey(), e.getValue());
                }
            }
            Map<String, Safetensors.Entry> entries = Safetensors.entries(dir.resolve(PeftFiles.WEIGHTS));
            assertThat(entries).containsKey("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
                    .containsKey("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").hasSize(28);
            assertThat(entries.values()).allMatch(e -> e.dtype().name().equals("F32"));
            assertThat(Safetensors.metadata(dir.resolve(PeftFiles.WEIGHTS))).containsEntry("format", "pt");
            List<String> keys = PeftFiles.keys(dir.resolve(PeftFiles.CONFIG));
            List<String> sorted = new ArrayList<>(keys);
            java.util.Collections.sort(sorted);
            assertThat(keys).as("sorted, as json.dumps(sort_keys=True)").isEqualTo(sorted).hasSize(38)
                    .contains("peft_type", "task_type", "target_modules", "base_model_name_or_path", "r",
                            "lora_alpha", "use_rslora", "megatron_core", "use_bdlora");
            String json = Files.readString(dir.resolve(PeftFiles.CONFIG));
            assertThat(json).contains("\"peft_type\" : \"LORA\"", "\"task_type\" : \"CAUSAL_LM\"",
                    "\"base_model_name_or_path\" : \"meta-llama/Llama-3.2-1B\"", "\"inference_mode\" : true");

            AdaptedModel fresh = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), lora("false", false), 99);
            Tensor x = ids(9, 4);
            assertThat(Tensors.maxAbsDiff(m.logits(x, ctx(9)), fresh.logits(x, ctx(9)))).isGreaterThan(1e-3);
            AdapterSettings read = PeftFiles.settingsFrom(dir, lora("false", false), s -> { });
            assertThat(read.r()).isEqualTo(4);
            assertThat(read.alpha()).isEqualTo(8);
            PeftFiles.loadInto(dir, fresh);
            assertThat(Tensors.maxAbsDiff(m.logits(x, ctx(9)), fresh.logits(x, ctx(9)))).isZero();
        }
    }

    /**
     * An adapter laid out by hand as PEFT saves one (keys with the base_model.model. prefix, a bf16 tensor, the
     * minimal config PEFT accepts: only peft_type required, the rest defaults) loads; a wrong shape is refused naming
     * the tensor; the YAML's rank yields to the file's with a warning.
     */
    @Test
    void aHandBuiltPeftAdapterLoadsAndAWrongShapeIsRefusedNamingTheTensor(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve(PeftFiles.CONFIG), "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 16,"
                + " \"target_modules\": [\"v_proj\"], \"task_type\": \"CAUSAL_LM\", \"some_future_key\": 1}");
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            Map<String, Tensor> t = new LinkedHashMap<>();
            for (int l = 0; l < 2; l++) {
                String p = "base_model.model.model.layers." + l + ".self_attn.v_proj.";
                t.put(p + "lora_A.weight", torch.full(new long[] {2, 16}, new Scalar(0.5 + l)).to(ScalarType.BFloat16));
                t.put(p + "lora_B.weight", torch.full(new long[] {8, 2}, new Scalar(0.25)));
            }
            Safetensors.write(dir.resolve(PeftFiles.WEIGHTS), t, Map.of("format", "pt"));
            List<String> warnings = new ArrayList<>();
            AdapterSettings s = PeftFiles.settingsFrom(dir, lora("true", false), warnings::add);
            assertThat(s.r()).isEqualTo(2);
            assertThat(s.scaling()).isEqualTo(8.0);
            assertThat(s.targetModules()).containsExactly("v_proj");
            assertThat(warnings).singleElement().asString().contains("lora_r 4 -> 2", "governs");
            AdaptedModel m = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), s, 3);
            PeftFiles.loadInto(dir, m);
            assertThat(m.adapters().get("model.layers.1.self_attn.v_proj.lora_A.weight").mean().item_double())
                    .isEqualTo(1.5);

            Map<String, Tensor> bad = new LinkedHashMap<>(t);
            bad.put("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", torch.zeros(8, 3));
            Safetensors.write(dir.resolve(PeftFiles.WEIGHTS), bad, Map.of("format", "pt"));
            assertThatThrownBy(() -> PeftFiles.loadInto(dir, m))
                    .hasMessageContaining("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")
                    .hasMessageContaining("[8, 3], expected [8, 2]");
        }
    }

    /** QLoRA's forward equals the LoRA forward over a base whose projections went through NF4 and back. */
    @Test
    void qloraEqualsLoraOverTheNf4RoundTrippedBase() {
        AdapterSettings lora = lora("false", false);
        AdapterSettings qlora = new AdapterSettings("qlora", lora.r(), lora.alpha(), 0, lora.targetModules(), null,
                List.of(), List.of(), false, null, "false", null, List.of());
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            AdaptedModel q = AdaptedModel.apply(DecoderModel.initialise(TINY, 5), qlora, 3);
            DecoderModel base = DecoderModel.initialise(TINY, 5);
            Map<String, Tensor> w = new LinkedHashMap<>();
            base.parameters().forEach((n, t) -> {
                if (n.endsWith("_proj.weight")) {
                    try (ai.axolotl.model.quant.Nf4Tensor nf4 = ai.axolotl.model.quant.Nf4Tensor.quantize(t, true)) {
                        w.put(n, nf4.dequantize(ScalarType.Float));
                    }
                } else {
                    w.put(n, t);
                }
            });
            AdaptedModel l = AdaptedModel.apply(DecoderModel.fromWeights(TINY, w, "round trip"), lora, 3);
            Tensor x = ids(11, 6);
            assertThat(Tensors.maxAbsDiff(q.logits(x, ctx(11)), l.logits(x, ctx(11)))).isLessThan(1e-6);
            assertThat(Tensors.maxAbsDiff(q.logits(x, ctx(11)), AdaptedModel.apply(DecoderModel.initialise(TINY, 5),
                    lora, 3).logits(x, ctx(11)))).as("4-bit changes the base").isGreaterThan(1e-4);
            assertThat(q.quantized()).hasSize(14);
            assertThat(q.frozenParameters()).doesNotContainKey("model.layers.0.mlp.up_proj.weight")
                    .containsKey("model.embed_tokens.weight").containsKey("lm_head.weight");
        }
    }

    /** The quantized base costs about 4.13 bits per weight of the projections, measured from the tensors held. */
    @Test
    void theQuantizedBaseCostsAbout4Point13BitsPerProjectionWeight() {
        ModelConfig wide = ModelConfig.llama(64, 256, 512, 2, 4, 2, 64, 1e-5, 10000, false, "float32");
        AdapterSettings qlora = new AdapterSettings("qlora", 4, 8, 0, List.of("q_proj"), null, List.of(),
                List.of(), false, null, "true", null, List.of());
        try (PointerScope scope = new PointerScope()) {
            AdaptedModel q = AdaptedModel.apply(DecoderModel.initialise(wide, 5), qlora, 3);
            long weights = 0;
            long bytes = 0;
            for (Map.Entry<String, ai.axolotl.model.quant.Nf4Tensor> e : q.quantized().entrySet()) {
                weights += wide.spec(e.getKey()).numel();
                bytes += e.getValue().bytes();
            }
            assertThat(8.0 * bytes / weights).isBetween(4.127, 4.135);
            for (String n : q.quantized().keySet()) {
                assertThat(q.frozenParameters()).doesNotContainKey(n);
            }
        }
    }
}
