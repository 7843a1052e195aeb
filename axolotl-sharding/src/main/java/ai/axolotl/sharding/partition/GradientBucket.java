package ai.axolotl.sharding.partition;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.List;

/**
 * The gradients of several parameters (a unit's, or all of them) reduce-scattered in one collective: the input
 * is laid out rank-major (rank 0's chunks of every parameter, then rank 1's, ...) so that each rank receives its
 * chunks of all of them contiguously; {@link #finish()} adds them into the gradient partitions and frees both of
 * the bucket's tensors at once. The bucket owns them (they are out of any pointer scope), so a reduction still in
 * flight when a micro-batch ends is neither freed under the collective nor kept to the end of the step.
 */
final class GradientBucket {
    private final List<ShardedParameter> params;
    private final Tensor input;
    private final Tensor output;
    private final CollectiveWork work;

    private GradientBucket(List<ShardedParameter> params, Tensor input, Tensor output, CollectiveWork work) {
        this.params = params;
        this.input = input;
        this.output = output;
        this.work = work;
    }

    /** Takes the parameters' full gradients (released) and starts the reduction; null when none has one. */
    static GradientBucket start(List<ShardedParameter> candidates, Collectives group) {
        List<ShardedParameter> ps = new ArrayList<>();
        List<Tensor> flats = new ArrayList<>();
        for (ShardedParameter p : candidates) {
            Tensor f = p.takePaddedGrad();
            if (f != null) {
                ps.add(p);
                flats.add(f);
            }
        }
        if (ps.isEmpty()) {
            return null;
        }
        int world = group.size();
        List<Tensor> pieces = new ArrayList<>();
        long total = 0;
        for (int r = 0; r < world; r++) {
            for (int i = 0; i < ps.size(); i++) {
                long c = ps.get(i).chunk();
                pieces.add(flats.get(i).narrow(0, r * c, c));
                if (r == 0) {
                    total += c;
                }
            }
        }
        Tensor input = Tensors.unscoped(torch.cat(new TensorVector(pieces.toArray(new Tensor[0])), 0));
        pieces.forEach(Tensor::close);
        flats.forEach(Tensor::close);
        Tensor output = Tensors.unscoped(torch.empty(new long[] {total}, Tensors.options(ScalarType.Float), null));
        return new GradientBucket(ps, input, output, group.reduceScatterSum(output, input));
    }

    /** Waits, then adds this rank's summed chunks into the parameters' gradient partitions. */
    void finish() {
        work.await();
        long off = 0;
        for (ShardedParameter p : params) {
            try (Tensor part = output.narrow(0, off, p.chunk())) {
                p.shardGrad().add_(part);
            }
            off += p.chunk();
        }
        input.close();
        output.close();
    }
}
