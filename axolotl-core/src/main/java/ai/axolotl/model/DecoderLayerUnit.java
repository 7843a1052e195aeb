package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.Map;

/**
 * One decoder layer of any built family ({@code LlamaDecoderLayer}, {@code Qwen3DecoderLayer}, ...): normed
 * grouped-query self-attention with rotary positions, then a normed gated MLP, each with a residual connection,
 * changed only where the family declares ({@link Deltas}: q/k norms before RoPE, sandwich norms, norm style,
 * activation) and the config says (biases, the layer's window and RoPE table, the attention scale).
 */
public final class DecoderLayerUnit implements ModelUnit {
    private final int index;
    private final ModelConfig config;
    private final Deltas deltas;
    private final Map<String, Tensor> params;
    private final Projection q;
    private final Projection k;
    private final Projection v;
    private final Projection o;
    private final Projection gate;
    private final Projection up;
    private final Projection down;
    private final AttentionKernel attention;
    private final ProjectionFactory projections;
    private final ModelParallelism parallel;

    DecoderLayerUnit(int index, ModelConfig config, Map<String, Tensor> params, AttentionKernel attention,
                     ProjectionFactory projections, ModelParallelism parallel) {
        this.index = index;
        this.parallel = parallel;
        this.config = config;
        this.deltas = config.deltas();
        this.params = params;
        this.projections = projections;
        this.q = projection("self_attn.q_proj", true);
        this.k = projection("self_attn.k_proj", true);
        this.v = projection("self_attn.v_proj", true);
        this.o = projection("self_attn.o_proj", false);
        this.gate = projection("mlp.gate_proj", true);
        this.up = projection("mlp.up_proj", true);
        this.down = projection("mlp.down_proj", false);
        this.attention = attention;
    }

    /** The name prefix of layer {@code i}'s parameters. */
    static String prefix(int i) {
        return "model.layers." + i + ".";
    }

    /**
     * A projection with its bias when the layer has one. A column-parallel bias is this rank's slice; a
     * row-parallel one ({@code column} false) is whole on every rank, and each of the tp ranks adds {@code 1/tp}
     * of it to its partial sum, so the sum over ranks adds it once (its gradient is then partial on every rank:
     * {@link GradientPlacement#PARTIAL}).
     */
    private Projection projection(String name, boolean column) {
        Tensor w = param(name + ".weight");
        Tensor b = params.get(prefix(index) + name + ".bias");
        return projections.create(config.spec(prefix(index) + name + ".weight"), w, b,
                column ? 1.0 : 1.0 / parallel.size());
    }

    private Tensor param(String suffix) {
        Tensor t = params.get(prefix(index) + suffix);
        if (t == null) {
            throw new IllegalStateException("missing parameter " + prefix(index) + suffix);
        }
        return t;
    }

    private Tensor norm(Tensor x, String weight) {
        return RmsNorm.apply(x, param(weight), config.rmsNormEps(), deltas.norm());
    }

    @Override
    public String name() {
        return "layers." + index;
    }

    @Override
    public String moduleClass() {
        return config.decoderLayerClass();
    }

    @Override
    public Map<String, Tensor> parameters() {
        return params;
    }

    /**
     * Under tensor parallelism {@code h} is this rank's part of the sequence (sequence parallel) or the whole
     * replicated sequence; the attention and MLP blocks are each one parallel region: entered before the
     * column-parallel projections, left after the row-parallel one. Sandwich norms (Gemma) normalise each block's
     * output between the regions, before its residual add.
     */
    @Override
    public Tensor forward(Tensor h, ForwardContext ctx) {
        boolean sandwich = deltas.sandwichNorms();
        Tensor h2;
        try (Tensor normed = norm(h, "input_layernorm.weight");
             Tensor full = parallel.enterRegion(normed, ctx);
             Tensor attnPartial = selfAttention(full, ctx);
             Tensor attn = parallel.exitRegion(attnPartial, ctx);
             Tensor attnOut = sandwich ? norm(attn, "post_attention_layernorm.weight") : new Tensor(attn)) {
            h2 = h.add(attnOut);
        }
        try (Tensor residual = h2;
             Tensor normed2 = norm(h2, sandwich ? "pre_feedforward_layernorm.weight"
                     : "post_attention_layernorm.weight");
             Tensor full2 = parallel.enterRegion(normed2, ctx);
             Tensor mlpPartial = mlp(full2, ctx);
             Tensor mlp = parallel.exitRegion(mlpPartial, ctx);
             Tensor mlpOut = sandwich ? norm(mlp, "post_feedforward_layernorm.weight") : new Tensor(mlp)) {
            return residual.add(mlpOut);
        }
    }

    private Tensor selfAttention(Tensor x, ForwardContext ctx) {
        long b = x.size(0);
        long t = x.size(1);
        int hd = config.headDim();
        int heads = config.numAttentionHeads() / parallel.size(); // this rank's heads
        int kvHeads = config.numKeyValueHeads() / parallel.size();
        try (Tensor qp = q.apply(x, ctx);
             Tensor kp = k.apply(x, ctx);
             Tensor vp = v.apply(x, ctx);
             Tensor q4 = qp.view(b, t, heads, hd);
             Tensor k4 = kp.view(b, t, kvHeads, hd);
             Tensor qn = deltas.qkNorm() ? norm(q4, "self_attn.q_norm.weight") : new Tensor(q4);
             Tensor kn = deltas.qkNorm() ? norm(k4, "self_attn.k_norm.weight") : new Tensor(k4);
             Tensor qh = qn.transpose(1, 2);
             Tensor kh = kn.transpose(1, 2);
             Tensor vh = vp.view(b, t, kvHeads, hd).transpose(1, 2);
             Tensor qr = RotaryEmbedding.apply(qh, ctx.cos(index), ctx.sin(index));
             Tensor kr = RotaryEmbedding.apply(kh, ctx.cos(index), ctx.sin(index));
             Tensor out = attention.attend(qr, kr, vh, ctx, index);
             Tensor merged = out.transpose(1, 2).reshape(b, t, (long) heads * hd)) {
            return o.apply(merged, ctx);
        }
    }

    private Tensor mlp(Tensor x, ForwardContext ctx) {
        try (Tensor g = gate.apply(x, ctx);
             Tensor act = deltas.activation() == Deltas.Activation.GELU_TANH ? torch.gelu(g, "tanh") : torch.silu(g);
             Tensor u = up.apply(x, ctx);
             Tensor prod = act.mul(u)) {
            return down.apply(prod, ctx);
        }
    }
}
