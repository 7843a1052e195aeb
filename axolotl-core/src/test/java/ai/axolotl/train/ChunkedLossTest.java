package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The chunked output projection and loss ({@code cut_cross_entropy}, {@code liger_fused_linear_cross_entropy})
 * give the plain path's loss and gradients: one process, tied and untied, chunks that cut rows and rows of
 * several samples, labels of -100 inside a chunk and a chunk with no label at all.
 */
class ChunkedLossTest {
    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    private static ForwardContext packed(int b, int t, ModelConfig c, ScalarType type) {
        long[] pos = new long[b * t];
        long[] seg = new long[b * t];
        for (int i = 0; i < b * t; i++) {
            int at = i % t;
            seg[i] = at < 5 ? 1 : 2; // two samples per row
            pos[i] = at < 5 ? at : at - 5;
        }
        return new ForwardContext(Tensors.longs(pos, b, t), Tensors.longs(seg, b, t), c, type);
    }

    private static Map<String, Tensor> gradients(CausalLm m) {
        Map<String, Tensor> g = new LinkedHashMap<>();
        m.parameters().forEach((n, p) -> g.put(n, p.grad().clone()));
        return g;
    }

    @Test
    void chunkedLossAndGradientsEqualThePlainOnes() {
        for (boolean tied : new boolean[] {false, true}) {
            for (ScalarType type : new ScalarType[] {ScalarType.Float, ScalarType.Double}) {
                ModelConfig c = ModelConfig.llama(300, 32, 48, 2, 4, 2, 64, 1e-5, 10000, tied, "float32");
                int b = 2;
                int t = 9;
                Random r = new Random(5);
                long[] ids = new long[b * t];
                long[] labels = new long[b * t];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = r.nextInt(300);
                    labels[i] = i % 7 == 3 || (i >= 10 && i <= 13) ? -100 : ids[i]; // a chunk of 3 with no label
                }
                double tol = type == ScalarType.Double ? 1e-12 : 1e-5;
                try (PointerScope scope = new PointerScope()) {
                    Map<String, Tensor> w = DecoderModel.initialise(c, 3).parameters();
                    CausalLm plain = DecoderModel.fromWeights(c, w, "plain", type);
                    CausalLm chunked = DecoderModel.fromWeights(c, w, "chunked", type);
                    Tensor in = Tensors.longs(ids, b, t);
                    Tensor y = Tensors.longs(labels, b, t);
                    double a = new UnitRunner(plain, UnitHooks.NONE, false)
                            .forwardBackward(in, y, packed(b, t, c, type), 12, true);
                    // 3 tokens per chunk: chunks cut rows (9 tokens) and the flattened batch
                    double z = new UnitRunner(chunked, UnitHooks.NONE, false, 300 * 3)
                            .forwardBackward(in, y, packed(b, t, c, type), 12, true);
                    assertThat(z).as("loss, tied " + tied + " " + type).isCloseTo(a, within(tol * Math.abs(a)));
                    Map<String, Tensor> ga = gradients(plain);
                    Map<String, Tensor> gz = gradients(chunked);
                    for (String n : ga.keySet()) {
                        assertThat(Tensors.maxAbsDiff(ga.get(n), gz.get(n))).as(n + " tied " + tied + " " + type)
                                .isLessThan(tol);
                    }
                    double evalPlain = UnitRunner.evalLossSum(plain, UnitHooks.NONE, in, y, packed(b, t, c, type));
                    double evalChunked = UnitRunner.evalLossSum(chunked, UnitHooks.NONE, in, y,
                            packed(b, t, c, type), 300 * 4);
                    assertThat(evalChunked).isCloseTo(evalPlain, within(tol * Math.abs(evalPlain)));
                }
            }
        }
    }
}
