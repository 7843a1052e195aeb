package ai.axolotl.model.quant;

import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.Projection;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

import java.util.function.Consumer;

/**
 * A frozen projection over an NF4 weight ({@code bnb.nn.Linear4bit}): each call dequantizes the weight in the
 * input's type (bitsandbytes' {@code bnb_4bit_compute_dtype}) and applies it. The dequantized copy lives only as
 * long as autograd needs it for the input's gradient: not at all under no-grad (the first forward of a recomputed
 * layer, evaluation), until the layer's backward otherwise; with decoder layers recomputed in backward, as QLoRA
 * runs, one layer's dequantized weights are alive at a time.
 */
public final class Nf4Projection implements Projection {
    private static volatile Consumer<Tensor> observer;
    private final Nf4Tensor weight;
    private final Tensor bias;
    private final double biasScale;

    /**
     * @param weight the packed weight (not copied, not closed here)
     * @param bias the frozen bias, or null
     * @param biasScale what the bias is multiplied by (1, or 1/tp)
     */
    public Nf4Projection(Nf4Tensor weight, Tensor bias, double biasScale) {
        this.weight = weight;
        this.bias = bias;
        this.biasScale = biasScale;
    }

    /**
     * Tests: receives each dequantized weight as it is made (a handle of its own, which the observer closes), to see
     * how long autograd keeps its storage. Null to stop.
     */
    public static void observeDequantized(Consumer<Tensor> o) {
        observer = o;
    }

    @Override
    public Tensor apply(Tensor x, ForwardContext ctx) {
        try (Tensor w = weight.dequantize(x.scalar_type())) {
            Consumer<Tensor> o = observer;
            if (o != null) {
                o.accept(new Tensor(w));
            }
            if (bias == null) {
                return torch.linear(x, w);
            }
            try (Tensor b = bias.to(x.scalar_type());
                 Tensor bs = biasScale == 1.0 ? new Tensor(b) : b.mul(new Scalar(biasScale))) {
                return torch.linear(x, w, new TensorOptional(bs));
            }
        }
    }
}
