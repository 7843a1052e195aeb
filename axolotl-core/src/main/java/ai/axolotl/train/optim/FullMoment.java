package ai.axolotl.train.optim;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;

import java.util.Map;

/** An fp32 moment: what AdamW keeps, and what a low-bit AdamW keeps for small tensors. */
public final class FullMoment implements Moment {
    private final Tensor values;

    /** Zeros of {@code n} elements where {@code like} is. */
    public FullMoment(long n, Tensor like) {
        this.values = Tensors.unscoped(Tensors.zerosOn(like, n));
    }

    @Override
    public Tensor read() {
        return new Tensor(values);
    }

    @Override
    public void write(Tensor v) {
        if (!v.is_same(values)) {
            values.copy_(v);
        }
    }

    @Override
    public Map<String, Tensor> state() {
        return Map.of("", values);
    }

    @Override
    public long bytes() {
        return values.nbytes();
    }

    @Override
    public void close() {
        values.close();
    }
}
