package ai.axolotl.model.adapter;

import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.Projection;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * PEFT's LoRA forward over a frozen base projection: {@code y = base(x) + scaling * B(A(dropout(x)))}, with A
 * {@code [r, in]} and B {@code [out, r]} read from the adapter's tensors at every call (a strategy may gather or
 * replace their storage in place) and cast to the input's type. Dropout applies to the adapter's input only and only
 * in training; its mask comes from a generator seeded by the micro-batch's {@link ForwardContext#dropoutSeed} and
 * this projection's site, so a recomputed forward draws the same mask.
 */
final class LoraProjection implements Projection {
    private final Projection base;
    private final Tensor a;
    private final Tensor b;
    private final double scaling;
    private final double dropout;
    private final long site;

    /**
     * @param base the frozen projection
     * @param a the adapter's A as this rank holds it
     * @param b the adapter's B as this rank holds it
     * @param scaling alpha / r (or alpha / sqrt(r))
     * @param dropout the dropout probability of the adapter's input
     * @param site this projection's index among the adapted ones (seeds its dropout)
     */
    LoraProjection(Projection base, Tensor a, Tensor b, double scaling, double dropout, long site) {
        this.base = base;
        this.a = a;
        this.b = b;
        this.scaling = scaling;
        this.dropout = dropout;
        this.site = site;
    }

    @Override
    public Tensor apply(Tensor x, ForwardContext ctx) {
        ScalarType type = x.scalar_type();
        boolean same = Tensors.sameType(type, a.scalar_type());
        try (Tensor y = base.apply(x, ctx);
             Tensor in = dropout > 0 && ctx != null && ctx.dropoutSeed() != null ? dropped(x, ctx.dropoutSeed())
                     : new Tensor(x);
             Tensor wa = same ? new Tensor(a) : a.to(type);
             Tensor wb = same ? new Tensor(b) : b.to(type);
             Tensor down = torch.linear(in, wa);
             Tensor up = torch.linear(down, wb)) {
            return y.add(up, new Scalar(scaling));
        }
    }

    /** {@code x * mask / (1 - p)}, the mask drawn on the CPU from this site's generator. */
    private Tensor dropped(Tensor x, long seed) {
        Generator g = torch.createCPUGenerator(seed * 1_000_003L + site);
        try (g; GeneratorOptional go = new GeneratorOptional(g);
             Tensor host = torch.empty(x.shape(), new TensorOptions(ScalarType.Float), null)) {
            host.bernoulli_(1.0 - dropout, go);
            try (Tensor mask = Tensors.to(host, Device.of(Tensors.deviceName(x), "the adapter's input"));
                 Tensor typed = mask.to(x.scalar_type());
                 Tensor kept = x.mul(typed)) {
                return kept.div(new Scalar(1.0 - dropout));
            }
        }
    }
}
