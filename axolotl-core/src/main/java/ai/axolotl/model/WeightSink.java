package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

import java.io.IOException;

/** Receives full model weights one at a time, by HF name; the tensor is only valid during the call. */
@FunctionalInterface
public interface WeightSink {
    /** Takes one full weight (the caller closes it after the call returns). */
    void accept(String name, Tensor weight) throws IOException;
}
