package ai.axolotl.distributed;

import org.bytedeco.pytorch.Tensor;

/**
 * The collective operations a sharding strategy uses, over one group of ranks. Implementations: Gloo (CPU, in
 * axolotl-sharding) and NCCL (CUDA, in axolotl-nccl). Every member must call the same operations in the same
 * order. Sums are element-wise over the group; tensors must be contiguous.
 */
public interface Collectives extends AutoCloseable {
    /** This process's rank within the group. */
    int rank();

    /** Number of ranks in the group. */
    int size();

    /** Starts an in-place sum of {@code t} over the group. */
    CollectiveWork allReduceSum(Tensor t);

    /** Starts gathering every rank's {@code in} into {@code out} (size x in.numel, rank order). */
    CollectiveWork allGather(Tensor out, Tensor in);

    /** Starts summing {@code in} (size x out.numel) over the group; rank r keeps the r-th slice in {@code out}. */
    CollectiveWork reduceScatterSum(Tensor out, Tensor in);

    /** Starts broadcasting {@code t} from {@code root} to every rank (in place). */
    CollectiveWork broadcast(Tensor t, int root);

    /** Blocks until every rank arrives. */
    void barrier();

    /** Sum of a scalar over the group (blocking). */
    default double allReduceSum(double value) {
        try (Tensor t = Tensor.create(new double[] {value})) {
            allReduceSum(t).await();
            return t.item_double();
        }
    }

    @Override
    void close();
}
