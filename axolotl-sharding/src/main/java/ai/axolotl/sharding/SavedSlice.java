package ai.axolotl.sharding;

import org.bytedeco.pytorch.Tensor;

import java.io.IOException;

/**
 * The saved state of one tensor-parallel slice of a checkpoint (the whole model without tensor parallel), whatever
 * layer wrote it: ZeRO / FSDP2 partition files ({@code PartitionCheckpoint.Reader}) or the whole state of one
 * process or data parallel ({@link WholeStateReader}: HF safetensors and libtorch's {@code optimizer.pt}). Tensors
 * are named {@code param}, {@code exp_avg}, {@code exp_avg_sq} and handed out in the saved slice's shape.
 */
public interface SavedSlice {
    /** What wrote it ({@code fsdp2}, {@code zero3}, {@code ddp}, {@code single}, ...). */
    String strategy();

    /** Optimizer steps taken when it was written. */
    long optimizerSteps();

    /** False when it was saved without optimizer state ({@code save_only_model}). */
    boolean hasOptimizer();

    /** The whole saved tensor {@code kind/name}; the caller closes it. */
    Tensor readWhole(String kind, String name) throws IOException;

    /** Entries {@code [from, from + len)} along dimension {@code dim} of saved tensor {@code kind/name}. */
    Tensor readSlice(String kind, String name, int dim, long from, long len) throws IOException;

    /** The saved shape of parameter {@code name}. */
    long[] shape(String name);

    /** Bytes read from its files so far. */
    long bytesRead();
}
