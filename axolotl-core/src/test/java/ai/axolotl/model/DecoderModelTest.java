package ai.axolotl.model;

import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.train.UnitHooks;
import ai.axolotl.train.UnitRunner;
import org.assertj.core.data.Offset;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class DecoderModelTest {
    static final ModelConfig TINY = ModelConfig.llama(32, 16, 24, 2, 4, 2, 64, 1e-5, 10000, false, "float32");

    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    static Tensor ids(long[] v, int b, int t) {
        return Tensors.longs(v, b, t);
    }

    static long[] tokens(int n, long seed) {
        Random r = new Random(seed);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = r.nextInt(TINY.vocabSize());
        }
        return out;
    }

    static ForwardContext ctx(int b, int t, ModelConfig c, ScalarType type) {
        long[] pos = new long[b * t];
        long[] seg = new long[b * t];
        for (int i = 0; i < b * t; i++) {
            pos[i] = i % t;
            seg[i] = 1;
        }
        return new ForwardContext(ids(pos, b, t), ids(seg, b, t), c, type);
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        try (PointerScope scope = new PointerScope()) {
            CausalLm f = DecoderModel.initialise(TINY, 7);
            Map<String, Tensor> w = new LinkedHashMap<>(f.parameters());
            CausalLm m = DecoderModel.fromWeights(TINY, w, "test", ScalarType.Double);
            int b = 2;
            int t = 6;
            Tensor in = ids(tokens(b * t, 1), b, t);
            Tensor labels = ids(tokens(b * t, 2), b, t);
            ForwardContext ctx = ctx(b, t, TINY, ScalarType.Double);
            UnitRunner runner = new UnitRunner(m, UnitHooks.NONE, false);
            runner.forwardBackward(in, labels, ctx, 1.0, true);
            String[] names = {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                "model.layers.1.mlp.down_proj.weight", "model.layers.0.input_layernorm.weight", "lm_head.weight",
                "model.norm.weight", "model.layers.1.self_attn.k_proj.weight"};
            for (String name : names) {
                Tensor p = m.parameters().get(name);
                Tensor g = p.grad().reshape(-1);
                Tensor flat = p.detach().reshape(-1);
                for (long idx : new long[] {0, 3, flat.numel() - 1}) {
                    double eps = 1e-6;
                    double orig = flat.narrow(0, idx, 1).item_double();
                    double plus;
                    double minus;
                    try (NoGradGuard ng = new NoGradGuard()) {
                        flat.narrow(0, idx, 1).fill_(new Scalar(orig + eps));
                        plus = UnitRunner.evalLossSum(m, UnitHooks.NONE, in, labels, ctx);
                        flat.narrow(0, idx, 1).fill_(new Scalar(orig - eps));
                        minus = UnitRunner.evalLossSum(m, UnitHooks.NONE, in, labels, ctx);
                        flat.narrow(0, idx, 1).fill_(new Scalar(orig));
                    }
                    double numeric = (plus - minus) / (2 * eps);
                    double analytic = g.narrow(0, idx, 1).item_double();
                    assertThat(analytic).as(name + "[" + idx + "]").isCloseTo(numeric,
                            Offset.offset(1e-6 + 1e-4 * Math.abs(numeric)));
                }
            }
        }
    }

    @Test
    void gradientCheckpointingGivesTheSameGradients() {
        try (PointerScope scope = new PointerScope()) {
            CausalLm a = DecoderModel.initialise(TINY, 3);
            CausalLm b = DecoderModel.initialise(TINY, 3);
            Tensor in = ids(tokens(12, 5), 2, 6);
            Tensor labels = ids(tokens(12, 6), 2, 6);
            ForwardContext ctx = ctx(2, 6, TINY, ScalarType.Float);
            UnitRunner plain = new UnitRunner(a, UnitHooks.NONE, false);
            UnitRunner checkpointed = new UnitRunner(b, UnitHooks.NONE, true);
            double la = plain.forwardBackward(in, labels, ctx, 12, true);
            double lb = checkpointed.forwardBackward(in, labels, ctx, 12, true);
            assertThat(lb).isEqualTo(la);
            // checkpointing really recomputes: every decoder layer runs its forward a second time in backward
            assertThat(plain.unitForwards()).isEqualTo(a.units().size());
            assertThat(checkpointed.unitForwards()).isEqualTo(a.units().size() + TINY.numHiddenLayers());
            for (String n : a.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(a.parameters().get(n).grad(), b.parameters().get(n).grad()))
                        .as(n).isEqualTo(0.0);
            }
        }
    }

    @Test
    void packedSamplesDoNotAttendAcrossBoundaries() {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            CausalLm m = DecoderModel.initialise(TINY, 11);
            long[] s1 = tokens(5, 21);
            long[] s2 = tokens(4, 22);
            long[] packed = new long[9];
            System.arraycopy(s1, 0, packed, 0, 5);
            System.arraycopy(s2, 0, packed, 5, 4);
            long[] pos = {0, 1, 2, 3, 4, 0, 1, 2, 3};
            long[] seg = {1, 1, 1, 1, 1, 2, 2, 2, 2};
            ForwardContext pctx = new ForwardContext(ids(pos, 1, 9), ids(seg, 1, 9), TINY, ScalarType.Float);
            Tensor pl = m.logits(ids(packed, 1, 9), pctx);
            Tensor l1 = m.logits(ids(s1, 1, 5), ctx(1, 5, TINY, ScalarType.Float));
            Tensor l2 = m.logits(ids(s2, 1, 4), ctx(1, 4, TINY, ScalarType.Float));
            assertThat(Tensors.maxAbsDiff(pl.narrow(1, 0, 5), l1)).isLessThan(1e-5);
            assertThat(Tensors.maxAbsDiff(pl.narrow(1, 5, 4), l2)).isLessThan(1e-5);
            // and attention is causal: changing a later token leaves earlier logits unchanged
            long[] changed = s1.clone();
            changed[4] = (changed[4] + 1) % TINY.vocabSize();
            Tensor lc = m.logits(ids(changed, 1, 5), ctx(1, 5, TINY, ScalarType.Float));
            assertThat(Tensors.maxAbsDiff(lc.narrow(1, 0, 4), l1.narrow(1, 0, 4))).isLessThan(1e-6);
            assertThat(Tensors.maxAbsDiff(lc.narrow(1, 4, 1), l1.narrow(1, 4, 1))).isGreaterThan(1e-4);
        }
    }

    @Test
    void savedAndReloadedModelGivesIdenticalLogits(@TempDir Path dir) throws Exception {
        for (boolean tied : new boolean[] {false, true}) {
            ModelConfig c = TINY.withTiedEmbeddings(tied);
            try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                CausalLm m = DecoderModel.initialise(c, 13);
                Path out = dir.resolve("m" + tied);
                HfCheckpoint.save(out, c, m.parameters(), DType.F32, Long.MAX_VALUE);
                CausalLm r = HfCheckpoint.load(out);
                assertThat(r.config()).isEqualTo(c);
                assertThat(r.parameters().keySet()).containsExactlyElementsOf(m.parameters().keySet());
                assertThat(r.parameters()).doesNotContainKey(tied ? "lm_head.weight" : "none");
                Tensor in = ids(tokens(8, 9), 1, 8);
                ForwardContext ctx = ctx(1, 8, c, ScalarType.Float);
                assertThat(Tensors.maxAbsDiff(m.logits(in, ctx), r.logits(in, ctx))).isEqualTo(0.0);
            }
        }
    }

    @Test
    void shardedAndHalfPrecisionSafetensorsRoundTrip(@TempDir Path dir) throws Exception {
        try (PointerScope scope = new PointerScope()) {
            CausalLm m = DecoderModel.initialise(TINY, 17);
            HfCheckpoint.save(dir, TINY, m.parameters(), DType.F32, 4096);
            assertThat(dir.resolve(HfCheckpoint.INDEX)).exists();
            assertThat(dir.resolve(HfCheckpoint.WEIGHTS)).doesNotExist();
            Map<String, Tensor> back = HfCheckpoint.readWeights(dir);
            for (var e : m.parameters().entrySet()) {
                assertThat(Tensors.maxAbsDiff(e.getValue(), back.get(e.getKey()))).isEqualTo(0.0);
            }
            for (DType d : new DType[] {DType.BF16, DType.F16}) {
                Path p = dir.resolve(d.name());
                HfCheckpoint.save(p, TINY, m.parameters(), d, Long.MAX_VALUE);
                Map<String, Tensor> w = Safetensors.read(p.resolve(HfCheckpoint.WEIGHTS));
                Tensor q = w.get("model.layers.0.mlp.up_proj.weight");
                assertThat(q.scalar_type().value).isEqualTo(d.scalarType().value);
                assertThat(Tensors.maxAbsDiff(q, m.parameters().get("model.layers.0.mlp.up_proj.weight")))
                        .isLessThan(1e-3);
                assertThat(ModelConfig.read(p.resolve("config.json")).torchDtype()).isEqualTo(d.torchName());
                CausalLm loaded = HfCheckpoint.load(p);
                assertThat(loaded.parameters().get("model.norm.weight").scalar_type().value).isEqualTo(ScalarType.Float.value);
            }
        }
    }
}
