package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Rotary position embedding in Hugging Face's "rotate_half" convention. */
public final class RotaryEmbedding {
    private RotaryEmbedding() {}

    /**
     * Returns {cos, sin} of shape [B, 1, T, headDim] for the given [B, T] positions, from the spec's inverse
     * frequencies ({@link Rope#inverseFrequencies}; float32, cast to {@code type} at the end).
     */
    public static Tensor[] cosSin(Tensor positionIds, int headDim, Rope rope, ScalarType type) {
        float[] inv = rope.inverseFrequencies(headDim);
        try (Tensor hostFreq = Tensors.floats(inv, inv.length);
             Device device = positionIds.device();
             Tensor invFreq = hostFreq.to(device, ScalarType.Float);
             Tensor pos = positionIds.to(ScalarType.Float).unsqueeze(-1);
             Tensor freqs = pos.mul(invFreq);
             Tensor emb = torch.cat(new TensorVector(freqs, freqs), -1);
             Tensor embU = emb.unsqueeze(1);
             Tensor c = embU.cos();
             Tensor s = embU.sin()) {
            return new Tensor[] {c.to(type), s.to(type)};
        }
    }

    /** {@code x * cos + rotate_half(x) * sin} for x of shape [B, heads, T, headDim]. */
    public static Tensor apply(Tensor x, Tensor cos, Tensor sin) {
        long half = x.size(-1) / 2;
        try (Tensor x1 = x.narrow(-1, 0, half);
             Tensor x2 = x.narrow(-1, half, half);
             Tensor negX2 = x2.neg();
             Tensor rotated = torch.cat(new TensorVector(negX2, x1), -1);
             Tensor a = x.mul(cos);
             Tensor b = rotated.mul(sin)) {
            return a.add(b);
        }
    }
}
