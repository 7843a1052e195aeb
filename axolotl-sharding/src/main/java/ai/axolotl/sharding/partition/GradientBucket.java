package ai.axolotl.sharding.partition;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
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

    /**
     * Moves the parameters' full gradients (released as they are copied) into one rank-major input buffer of
     * {@code type} (fp32, or bf16 to halve what travels; the sums are added into the fp32 partitions) and starts
     * the reduction; null when none has a gradient. Each gradient is copied once, straight into place.
     */
    static GradientBucket start(List<ShardedParameter> candidates, Collectives group, ScalarType type) {
        List<ShardedParameter> ps = new ArrayList<>();
        long total = 0;
        for (ShardedParameter p : candidates) {
            if (p.hasGrad()) {
                ps.add(p);
                total += p.chunk();
            }
        }
        if (ps.isEmpty()) {
            return null;
        }
        int world = group.size();
        Tensor on = ps.get(0).shardGrad(); // the buffers live where the gradients do
        Tensor input = Tensors.unscoped(torch.empty(new long[] {world * total}, Tensors.optionsOn(type, on), null));
        long offset = 0;
        for (ShardedParameter p : ps) {
            p.moveGradInto(input, total, offset);
            offset += p.chunk();
        }
        Tensor output = Tensors.unscoped(torch.empty(new long[] {total}, Tensors.optionsOn(type, on), null));
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
