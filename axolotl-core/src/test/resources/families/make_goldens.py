#!/usr/bin/env python3
"""Golden values for the model families, computed outside the Java code path.

Replays Hugging Face transformers' formulas (modeling_llama / mistral / qwen2 / qwen3 / gemma3 and
modeling_rope_utils) in numpy, independently of axolotl-java: for each family a tiny checkpoint in HF's layout
(config.json + model.safetensors with HF names and shapes), the input ids, and the logits of a full forward in
float64 (RoPE tables in float32 as transformers computes them). Also the llama3 inverse frequencies of
meta-llama/Llama-3.2-1B's config.

Run from this directory: python3 make_goldens.py  (numpy only; deterministic). The outputs are checked in.
"""
import json
import math
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- RoPE (modeling_rope_utils.py), float32 like torch
def inv_freq_default(theta, dim):
    exps = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    return (np.float32(1.0) / (np.float32(theta) ** exps)).astype(np.float32)


def inv_freq(rope, dim):
    inv = inv_freq_default(rope["theta"], dim)
    kind = rope.get("type", "default")
    if kind == "linear":
        return (inv / np.float32(rope["factor"])).astype(np.float32)
    if kind == "llama3":
        f = np.float32(rope["factor"])
        low = np.float32(rope["low_freq_factor"])
        high = np.float32(rope["high_freq_factor"])
        orig = np.float32(rope["original_max_position_embeddings"])
        low_wl = orig / low
        high_wl = orig / high
        wavelen = np.float32(2 * math.pi) / inv
        llama = np.where(wavelen > low_wl, inv / f, inv).astype(np.float32)
        smooth = ((orig / wavelen - low) / (high - low)).astype(np.float32)
        smoothed = ((np.float32(1) - smooth) * llama / f + smooth * llama).astype(np.float32)
        medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
        return np.where(medium, smoothed, llama).astype(np.float32)
    return inv


def cos_sin(rope, dim, t):
    inv = inv_freq(rope, dim)
    pos = np.arange(t, dtype=np.float32)
    freqs = (pos[:, None] * inv[None, :]).astype(np.float32)
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb).astype(np.float32).astype(np.float64), np.sin(emb).astype(np.float32).astype(np.float64)


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


# ---------------------------------------------------------------- layers
def rms(x, w, eps, gemma):
    normed = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return normed * (1.0 + w) if gemma else w * normed


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def forward(cfg, fam, w, ids):
    t = len(ids)
    hd, nh, nkv = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    eps = cfg["rms_norm_eps"]
    gemma = fam["gemma"]
    h = w["model.embed_tokens.weight"][ids]
    if gemma:
        h = h * math.sqrt(cfg["hidden_size"])
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        g = lambda n: w.get(p + n)
        sliding = fam["sliding"][i]
        rope = fam["local_rope"] if (sliding and fam.get("local_rope")) else fam["rope"]
        cos, sin = cos_sin(rope, hd, t)
        x = rms(h, g("input_layernorm.weight"), eps, gemma)
        q = linear(x, g("self_attn.q_proj.weight"), g("self_attn.q_proj.bias")).reshape(t, nh, hd)
        k = linear(x, g("self_attn.k_proj.weight"), g("self_attn.k_proj.bias")).reshape(t, nkv, hd)
        v = linear(x, g("self_attn.v_proj.weight"), g("self_attn.v_proj.bias")).reshape(t, nkv, hd)
        if fam["qk_norm"]:
            q = rms(q, g("self_attn.q_norm.weight"), eps, gemma)
            k = rms(k, g("self_attn.k_norm.weight"), eps, gemma)
        q = q.transpose(1, 0, 2)
        k = k.transpose(1, 0, 2)
        v = v.transpose(1, 0, 2)
        q = q * cos[None] + rotate_half(q) * sin[None]
        k = k * cos[None] + rotate_half(k) * sin[None]
        rep = nh // nkv
        k = np.repeat(k, rep, axis=0)
        v = np.repeat(v, rep, axis=0)
        scale = fam["scale"]
        scores = (q @ k.transpose(0, 2, 1)) * scale
        allowed = np.zeros((t, t), dtype=bool)
        for qi in range(t):
            for kj in range(t):
                allowed[qi, kj] = kj <= qi and (not sliding or qi - kj < fam["window"])
        scores = np.where(allowed[None], scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(axis=-1, keepdims=True)
        attn = (probs @ v).transpose(1, 0, 2).reshape(t, nh * hd)
        attn = linear(attn, g("self_attn.o_proj.weight"), g("self_attn.o_proj.bias"))
        if gemma:
            attn = rms(attn, g("post_attention_layernorm.weight"), eps, gemma)
            h = h + attn
            x = rms(h, g("pre_feedforward_layernorm.weight"), eps, gemma)
        else:
            h = h + attn
            x = rms(h, g("post_attention_layernorm.weight"), eps, gemma)
        gate = linear(x, g("mlp.gate_proj.weight"), g("mlp.gate_proj.bias"))
        act = gelu_tanh(gate) if gemma else silu(gate)
        m = linear(act * linear(x, g("mlp.up_proj.weight"), g("mlp.up_proj.bias")),
                   g("mlp.down_proj.weight"), g("mlp.down_proj.bias"))
        if gemma:
            m = rms(m, g("post_feedforward_layernorm.weight"), eps, gemma)
        h = h + m
    h = rms(h, w["model.norm.weight"], eps, gemma)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return h @ head.T


# ---------------------------------------------------------------- files
def write_safetensors(path, tensors):
    header = {}
    offset = 0
    blobs = []
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def params(cfg, fam, rng):
    hd, nh, nkv = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hid, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    out = {}

    def mat(name, o, i):
        out[name] = rng.normal(0, 0.15, (o, i)).astype(np.float32)

    def vec(name, n, base):
        out[name] = (base + rng.normal(0, 0.1, (n,))).astype(np.float32)

    nbase = 0.0 if fam["gemma"] else 1.0
    mat("model.embed_tokens.weight", vocab, hid)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        vec(p + "input_layernorm.weight", hid, nbase)
        for n, o, i_ in (("q", nh * hd, hid), ("k", nkv * hd, hid), ("v", nkv * hd, hid), ("o", hid, nh * hd)):
            mat(p + "self_attn.%s_proj.weight" % n, o, i_)
            if (n != "o" and fam["qkv_bias"]) or (n == "o" and fam["o_bias"]):
                vec(p + "self_attn.%s_proj.bias" % n, o, 0.0)
        if fam["qk_norm"]:
            vec(p + "self_attn.q_norm.weight", hd, nbase)
            vec(p + "self_attn.k_norm.weight", hd, nbase)
        vec(p + "post_attention_layernorm.weight", hid, nbase)
        if fam["gemma"]:
            vec(p + "pre_feedforward_layernorm.weight", hid, nbase)
            vec(p + "post_feedforward_layernorm.weight", hid, nbase)
        for n, o, i_ in (("gate", inter, hid), ("up", inter, hid), ("down", hid, inter)):
            mat(p + "mlp.%s_proj.weight" % n, o, i_)
            if fam["mlp_bias"]:
                vec(p + "mlp.%s_proj.bias" % n, o, 0.0)
    vec("model.norm.weight", hid, nbase)
    if not cfg.get("tie_word_embeddings", False):
        mat("lm_head.weight", vocab, hid)
    return out


BASE = {"vocab_size": 264, "hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "max_position_embeddings": 128,
        "torch_dtype": "float32"}

FAMILIES = {
    "llama": (dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama", head_dim=16,
                   attention_bias=True, mlp_bias=True, rope_theta=10000.0, tie_word_embeddings=False,
                   hidden_act="silu",
                   rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
              dict(gemma=False, qk_norm=False, qkv_bias=True, o_bias=True, mlp_bias=True, sliding=[False, False],
                   rope={"theta": 10000.0, "type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64}, scale=16 ** -0.5)),
    "mistral": (dict(BASE, architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=4,
                     rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu"),
                dict(gemma=False, qk_norm=False, qkv_bias=False, o_bias=False, mlp_bias=False, sliding=[True, True],
                     window=4, rope={"theta": 10000.0}, scale=8 ** -0.5)),
    "qwen2": (dict(BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2", rope_theta=1000000.0,
                   tie_word_embeddings=True, use_sliding_window=False, sliding_window=32768, max_window_layers=2,
                   hidden_act="silu"),
              dict(gemma=False, qk_norm=False, qkv_bias=True, o_bias=False, mlp_bias=False, sliding=[False, False],
                   rope={"theta": 1000000.0}, scale=8 ** -0.5)),
    "qwen3": (dict(BASE, architectures=["Qwen3ForCausalLM"], model_type="qwen3", head_dim=16, attention_bias=False,
                   rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False, sliding_window=None,
                   max_window_layers=2, hidden_act="silu", rope_scaling=None),
              dict(gemma=False, qk_norm=True, qkv_bias=False, o_bias=False, mlp_bias=False, sliding=[False, False],
                   rope={"theta": 1000000.0}, scale=16 ** -0.5)),
    "gemma3_text": (dict(BASE, architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", num_hidden_layers=3,
                         num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=24, sliding_window=4,
                         sliding_window_pattern=2, rope_theta=1000000.0, rope_local_base_freq=10000.0,
                         rope_scaling={"rope_type": "linear", "factor": 8.0}, hidden_activation="gelu_pytorch_tanh",
                         final_logit_softcapping=None, attn_logit_softcapping=None, attention_bias=False,
                         tie_word_embeddings=True),
                    dict(gemma=True, qk_norm=True, qkv_bias=False, o_bias=False, mlp_bias=False,
                         sliding=[True, False, True], window=4,
                         rope={"theta": 1000000.0, "type": "linear", "factor": 8.0},
                         local_rope={"theta": 10000.0}, scale=24 ** -0.5)),
}


def main():
    rng = np.random.default_rng(20261203)
    ids = [int(x) for x in rng.integers(0, 264, 12)]
    for name, (cfg, fam) in FAMILIES.items():
        cfg = dict(cfg)
        cfg.setdefault("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        w = params(cfg, fam, rng)
        write_safetensors(os.path.join(d, "model.safetensors"), w)
        written = {k: v for k, v in cfg.items()}
        if name in ("mistral", "qwen2"):
            del written["head_dim"]  # the family's default (hidden / heads) is exercised
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(written, f, indent=2)
        logits = forward(cfg, fam, {k: v.astype(np.float64) for k, v in w.items()}, ids)
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump({"input_ids": ids, "shape": list(logits.shape),
                       "logits": [float(x) for x in logits.reshape(-1)]}, f)
    # meta-llama/Llama-3.2-1B: head_dim 64, rope_theta 500000, llama3 factor 32, low 1, high 4, orig 8192
    inv = inv_freq({"theta": 500000.0, "type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, 64)
    with open(os.path.join(HERE, "llama3_inv_freq_llama32_1b.json"), "w") as f:
        json.dump([float(x) for x in inv], f)


if __name__ == "__main__":
    main()
