package ai.axolotl.train;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.model.adapter.AdaptedModel;
import ai.axolotl.model.quant.Nf4Projection;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Storage;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * QLoRA's memory promise, measured on the live tensors: during a training micro-batch the dequantized weights autograd
 * keeps alive are at most one decoder layer's (7), because the layers are recomputed in backward; running the same
 * step without recomputation keeps every layer's at once, which is what this test would see if the recompute were
 * dropped.
 */
class QloraMemoryTest {
    static final ModelConfig SIX_LAYERS = ModelConfig.llama(64, 32, 48, 6, 4, 2, 64, 1e-5, 10000, false, "float32");

    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    @AfterEach
    void stopObserving() {
        Nf4Projection.observeDequantized(null);
    }

    /** The most dequantized weights alive (held by anyone but this test) at any unit boundary of one micro-batch. */
    static int peakAlive(boolean recompute) {
        AdapterSettings qlora = new AdapterSettings("qlora", 4, 8, 0, List.of("q_proj", "v_proj"), null, List.of(),
                List.of(), false, null, "true", null, List.of());
        List<Tensor> seen = new ArrayList<>();
        int[] peak = {0};
        Runnable count = () -> {
            int alive = 0;
            for (Tensor t : seen) {
                try (Storage st = t.storage()) { // this test's handle and this Storage hold two references
                    alive += st.use_count() > 2 ? 1 : 0;
                }
            }
            peak[0] = Math.max(peak[0], alive);
        };
        try (PointerScope scope = new PointerScope()) {
            CausalLm m = AdaptedModel.apply(DecoderModel.initialise(SIX_LAYERS, 3), qlora, 5);
            assertThat(((AdaptedModel) m).quantized()).hasSize(7 * 6);
            Nf4Projection.observeDequantized(t -> { // counted as each is made (the layer's earlier ones are alive)
                seen.add(t);
                count.run();
            });
            UnitHooks hooks = new UnitHooks() {
                @Override
                public void afterForward(ModelUnit unit) {
                    count.run();
                }

                @Override
                public void beforeBackward(ModelUnit unit) {
                    count.run();
                }

                @Override
                public void afterBackward(ModelUnit unit, boolean last) {
                    count.run();
                }
            };
            long[] ids = new long[24];
            long[] pos = new long[24];
            long[] seg = new long[24];
            for (int i = 0; i < 24; i++) {
                ids[i] = (i * 7) % 64;
                pos[i] = i;
                seg[i] = 1;
            }
            try (ForwardContext ctx = new ForwardContext(Tensors.longs(pos, 1, 24), Tensors.longs(seg, 1, 24),
                    SIX_LAYERS, ScalarType.Float)) {
                new UnitRunner(m, hooks, recompute).forwardBackward(Tensors.longs(ids, 1, 24), Tensors.longs(ids, 1,
                        24), ctx, 24, true);
            }
            for (Tensor t : m.parameters().values()) {
                assertThat(t.grad().defined()).isTrue();
            }
        }
        return peak[0];
    }

    @Test
    void atMostOneLayersDequantizedWeightsAreAliveWhenLayersAreRecomputed() {
        assertThat(peakAlive(true)).as("with recomputation (what QLoRA runs)").isBetween(1, 7);
        assertThat(peakAlive(false)).as("without it every layer's stay alive until its backward").isEqualTo(42);
    }
}
