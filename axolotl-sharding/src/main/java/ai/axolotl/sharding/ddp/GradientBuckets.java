package ai.axolotl.sharding.ddp;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * Gradients grouped into buckets of about {@code capBytes}: a bucket is flattened and its all-reduce started as
 * soon as it fills, while backward goes on with the remaining units; {@link #finish()} starts the last bucket,
 * waits for all, and writes the summed values back into the gradients. The buckets of one step are tensors of
 * their owner: each is freed as soon as its sums are copied back, and an all-reduce started in the last
 * micro-batch survives that micro-batch's pointer scope.
 */
final class GradientBuckets {
    private final Collectives group;
    private final long capBytes;
    private final List<Tensor> pending = new ArrayList<>();
    private long pendingBytes;
    private final List<Flight> inFlight = new ArrayList<>();
    private int launched;

    private record Flight(Tensor flat, List<Tensor> params, CollectiveWork work) {}

    GradientBuckets(Collectives group, long capBytes) {
        this.group = group;
        this.capBytes = capBytes;
    }

    /** Adds a parameter whose gradient is complete for this step; starts the bucket when it is full. */
    void add(Tensor param) {
        pending.add(param);
        pendingBytes += param.numel() * param.element_size();
        if (pendingBytes >= capBytes) {
            launch();
        }
    }

    private void launch() {
        if (pending.isEmpty()) {
            return;
        }
        List<Tensor> params = new ArrayList<>(pending);
        Tensor[] flats = new Tensor[params.size()];
        for (int i = 0; i < flats.length; i++) {
            flats[i] = params.get(i).grad().reshape(-1);
        }
        Tensor flat;
        try (TensorVector v = new TensorVector(flats)) {
            flat = Tensors.unscoped(torch.cat(v, 0));
        }
        for (Tensor f : flats) {
            f.close();
        }
        inFlight.add(new Flight(flat, params, group.allReduceSum(flat)));
        launched++;
        pending.clear();
        pendingBytes = 0;
    }

    /** Buckets started so far. */
    int launched() {
        return launched;
    }

    /** Starts what is left, waits for every bucket and copies the sums back into the gradients. */
    void finish() {
        launch();
        for (Flight f : inFlight) {
            f.work().await();
            long offset = 0;
            for (Tensor p : f.params()) {
                long n = p.numel();
                Tensor g = p.grad();
                g.copy_(f.flat().narrow(0, offset, n).view(p.shape()));
                offset += n;
            }
            f.flat().close();
        }
        inFlight.clear();
    }
}
