package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.Map;

/**
 * One {@code LlamaDecoderLayer}: pre-norm grouped-query self-attention with rotary positions, then a pre-norm
 * SwiGLU MLP, each with a residual connection.
 */
public final class DecoderLayerUnit implements ModelUnit {
    private final int index;
    private final LlamaConfig config;
    private final Map<String, Tensor> params;
    private final Projection q;
    private final Projection k;
    private final Projection v;
    private final Projection o;
    private final Projection gate;
    private final Projection up;
    private final Projection down;
    private final AttentionKernel attention;
    private final ModelParallelism parallel;

    DecoderLayerUnit(int index, LlamaConfig config, Map<String, Tensor> params, AttentionKernel attention,
                     ModelParallelism parallel) {
        this.index = index;
        this.parallel = parallel;
        this.config = config;
        this.params = params;
        this.q = new DenseProjection(param("self_attn.q_proj.weight"));
        this.k = new DenseProjection(param("self_attn.k_proj.weight"));
        this.v = new DenseProjection(param("self_attn.v_proj.weight"));
        this.o = new DenseProjection(param("self_attn.o_proj.weight"));
        this.gate = new DenseProjection(param("mlp.gate_proj.weight"));
        this.up = new DenseProjection(param("mlp.up_proj.weight"));
        this.down = new DenseProjection(param("mlp.down_proj.weight"));
        this.attention = attention;
    }

    /** HF parameter names of layer {@code i}, in a fixed order. */
    static String[] parameterNames(int i) {
        String p = "model.layers." + i + ".";
        return new String[] {
            p + "input_layernorm.weight",
            p + "self_attn.q_proj.weight",
            p + "self_attn.k_proj.weight",
            p + "self_attn.v_proj.weight",
            p + "self_attn.o_proj.weight",
            p + "post_attention_layernorm.weight",
            p + "mlp.gate_proj.weight",
            p + "mlp.up_proj.weight",
            p + "mlp.down_proj.weight",
        };
    }

    private Tensor param(String suffix) {
        Tensor t = params.get("model.layers." + index + "." + suffix);
        if (t == null) {
            throw new IllegalStateException("missing parameter model.layers." + index + "." + suffix);
        }
        return t;
    }

    @Override
    public String name() {
        return "layers." + index;
    }

    @Override
    public String moduleClass() {
        return "LlamaDecoderLayer";
    }

    @Override
    public Map<String, Tensor> parameters() {
        return params;
    }

    /**
     * Under tensor parallelism {@code h} is this rank's part of the sequence (sequence parallel) or the whole
     * replicated sequence; the attention and MLP blocks are each one parallel region: entered before the
     * column-parallel projections, left after the row-parallel one.
     */
    @Override
    public Tensor forward(Tensor h, ForwardContext ctx) {
        try (Tensor normed = RmsNorm.apply(h, param("input_layernorm.weight"), config.rmsNormEps());
             Tensor full = parallel.enterRegion(normed, ctx);
             Tensor attnPartial = selfAttention(full, ctx);
             Tensor attn = parallel.exitRegion(attnPartial, ctx);
             Tensor h2 = h.add(attn);
             Tensor normed2 = RmsNorm.apply(h2, param("post_attention_layernorm.weight"), config.rmsNormEps());
             Tensor full2 = parallel.enterRegion(normed2, ctx);
             Tensor mlpPartial = mlp(full2);
             Tensor mlp = parallel.exitRegion(mlpPartial, ctx)) {
            return h2.add(mlp);
        }
    }

    private Tensor selfAttention(Tensor x, ForwardContext ctx) {
        long b = x.size(0);
        long t = x.size(1);
        int hd = config.headDim();
        int heads = config.numAttentionHeads() / parallel.size(); // this rank's heads
        int kvHeads = config.numKeyValueHeads() / parallel.size();
        try (Tensor qp = q.apply(x);
             Tensor kp = k.apply(x);
             Tensor vp = v.apply(x);
             Tensor qh = qp.view(b, t, heads, hd).transpose(1, 2);
             Tensor kh = kp.view(b, t, kvHeads, hd).transpose(1, 2);
             Tensor vh = vp.view(b, t, kvHeads, hd).transpose(1, 2);
             Tensor qr = RotaryEmbedding.apply(qh, ctx.cos(), ctx.sin());
             Tensor kr = RotaryEmbedding.apply(kh, ctx.cos(), ctx.sin());
             Tensor out = attention.attend(qr, kr, vh, ctx);
             Tensor merged = out.transpose(1, 2).reshape(b, t, (long) heads * hd)) {
            return o.apply(merged);
        }
    }

    private Tensor mlp(Tensor x) {
        try (Tensor g = gate.apply(x);
             Tensor act = torch.silu(g);
             Tensor u = up.apply(x);
             Tensor prod = act.mul(u)) {
            return down.apply(prod);
        }
    }
}
