package ai.axolotl.model;

import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The decoder builds its layers through an injectable attention kernel and projection factory
 * ({@link CausalLm#withComputation}): what context parallel and adapters stand on. The injected ones are the ones
 * that run, over the same parameters.
 */
class ModelSeamsTest {
    @Test
    void injectedKernelAndProjectionsAreTheOnesThatRun() {
        Natives.setThreads(1);
        ModelConfig c = DecoderModelTest.TINY;
        List<String> created = new ArrayList<>();
        int[] attends = {0};
        int[] applies = {0};
        AttentionKernel counting = (q, k, v, ctx, layer) -> {
            attends[0]++;
            return new SdpaAttention().attend(q, k, v, ctx, layer);
        };
        ProjectionFactory recording = (spec, weight, bias, biasScale) -> {
            created.add(spec.name());
            Projection dense = ProjectionFactory.DENSE.create(spec, weight, bias, biasScale);
            return (x, cx) -> {
                applies[0]++;
                return dense.apply(x, cx);
            };
        };
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            CausalLm plain = DecoderModel.initialise(c, 5);
            CausalLm seamed = plain.withComputation(counting, recording);
            assertThat(seamed.parameters().get("model.norm.weight")).as("the same tensors")
                    .isSameAs(plain.parameters().get("model.norm.weight"));
            assertThat(created).hasSize(7 * c.numHiddenLayers())
                    .contains("model.layers.1.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight");
            Tensor ids = DecoderModelTest.ids(DecoderModelTest.tokens(8, 3), 1, 8);
            ForwardContext ctx = DecoderModelTest.ctx(1, 8, c, ScalarType.Float);
            Tensor a = plain.logits(ids, ctx);
            Tensor b = seamed.logits(ids, ctx);
            assertThat(attends[0]).isEqualTo(c.numHiddenLayers());
            assertThat(applies[0]).isEqualTo(7 * c.numHiddenLayers());
            assertThat(Tensors.maxAbsDiff(a, b)).isZero();
            ProjectionFactory doubled = (spec, weight, bias, biasScale) -> {
                Projection dense = ProjectionFactory.DENSE.create(spec, weight, bias, biasScale);
                return (x, cx) -> {
                    try (Tensor y = dense.apply(x, cx)) {
                        return y.mul(new Scalar(2.0));
                    }
                };
            };
            Tensor d = plain.withComputation(new SdpaAttention(), doubled).logits(ids, ctx);
            assertThat(Tensors.maxAbsDiff(a, d)).as("another projection changes the model").isGreaterThan(1e-3);
        }
    }
}
