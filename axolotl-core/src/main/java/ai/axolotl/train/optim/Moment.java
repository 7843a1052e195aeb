package ai.axolotl.train.optim;

import org.bytedeco.pytorch.Tensor;

import java.util.Map;

/** One AdamW moment of one flat tensor (or partition): full precision, or quantized in blocks. */
public interface Moment extends AutoCloseable {
    /** The moment as fp32 values (the caller closes the handle; a full-precision moment hands out its own storage). */
    Tensor read();

    /** Stores new values (from {@link #read}, updated in place for a full-precision moment). */
    void write(Tensor values);

    /** The tensors that hold the state, by suffix ({@code ""} for a full-precision moment; codes, absmax). */
    Map<String, Tensor> state();

    /** Bytes held. */
    long bytes();

    @Override
    void close();
}
