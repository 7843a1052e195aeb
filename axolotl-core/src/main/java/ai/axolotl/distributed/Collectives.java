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

    /**
     * All-to-all with equal blocks along dimension 0: block {@code r} of {@code in} goes to rank {@code r}, and
     * block {@code r} of {@code out} arrives from rank {@code r} ({@code in} and {@code out} contiguous, same shape,
     * dimension 0 divisible by the group size). Context parallel's head/sequence exchange (Ulysses) runs on it.
     */
    CollectiveWork allToAll(Tensor out, Tensor in);

    /** Sends {@code t} (contiguous) to group rank {@code peer}; pairs with that rank's {@link #recv}. */
    CollectiveWork send(Tensor t, int peer);

    /** Receives into {@code t} (contiguous, the sent shape) from group rank {@code peer}. Ring attention's step. */
    CollectiveWork recv(Tensor t, int peer);

    /** Blocks until every rank arrives. */
    void barrier();

    /** Sum of a scalar over the group (blocking). */
    default double allReduceSum(double value) {
        try (Tensor t = Tensor.create(new double[] {value})) {
            allReduceSum(t).await();
            return t.item_double();
        }
    }

    /**
     * Every rank's {@code in} concatenated along {@code dim} in rank order (blocking): sequence parallelism's
     * all-gather of activations split along the sequence. Returns a new contiguous tensor.
     */
    default Tensor allGatherAlong(Tensor in, int dim) {
        long[] shape = in.shape();
        long[] gathered = shape.clone();
        gathered[dim] *= size();
        // the gathered dimension first, so each rank's block is contiguous in the output
        try (Tensor moved = in.movedim(dim, 0);
             Tensor block = moved.contiguous();
             Tensor out = block.new_empty(movedShape(gathered, dim))) {
            allGather(out, block).await();
            try (Tensor back = out.movedim(0, dim)) {
                return back.contiguous();
            }
        }
    }

    /**
     * The sum over ranks of {@code in}, split along {@code dim} into {@link #size()} equal parts of which this rank
     * keeps the {@link #rank()}-th (blocking): sequence parallelism's reduce-scatter. Returns a new tensor.
     */
    default Tensor reduceScatterAlong(Tensor in, int dim) {
        long[] shape = in.shape();
        if (shape[dim] % size() != 0) {
            throw new IllegalArgumentException("dimension " + dim + " of size " + shape[dim]
                    + " does not split over " + size() + " ranks");
        }
        long[] part = shape.clone();
        part[dim] /= size();
        try (Tensor moved = in.movedim(dim, 0);
             Tensor blocks = moved.contiguous();
             Tensor out = blocks.new_empty(movedShape(part, dim))) {
            reduceScatterSum(out, blocks).await();
            try (Tensor back = out.movedim(0, dim)) {
                return back.contiguous();
            }
        }
    }

    /** A shape with dimension {@code dim} moved to the front (the others keep their order), as movedim does. */
    private static long[] movedShape(long[] shape, int dim) {
        long[] m = new long[shape.length];
        m[0] = shape[dim];
        int k = 1;
        for (int d = 0; d < shape.length; d++) {
            if (d != dim) {
                m[k++] = shape[d];
            }
        }
        return m;
    }

    @Override
    void close();
}
