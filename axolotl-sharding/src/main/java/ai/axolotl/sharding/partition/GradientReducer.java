package ai.axolotl.sharding.partition;

import ai.axolotl.distributed.Collectives;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.List;

/**
 * Groups completed gradients into reduce-scatter buckets ({@link GradientBucket}) and keeps the collectives in
 * flight while backward goes on. A bucket is launched once it holds {@code capElements} gradient elements
 * (DeepSpeed's {@code reduce_bucket_size}), or, with no cap, once per {@link #add} (FSDP2: one bucket per unit);
 * {@link #finishAll} launches what is left. With overlap (DeepSpeed's {@code overlap_comm}) at most two buckets are in
 * flight and the oldest is waited for only when a third is launched; without it every bucket is waited for as
 * soon as it is launched. Either way {@link #finishAll} at the end of each micro-batch's backward leaves none in
 * flight, so a bucket's tensors never outlive the micro-batch that filled them.
 */
final class GradientReducer {
    private static final int MAX_IN_FLIGHT = 2;
    private final Collectives group;
    private final long capElements;
    private final boolean overlap;
    private final ScalarType reduceType;
    private final List<ShardedParameter> pending = new ArrayList<>();
    private long pendingElements;
    private final Deque<GradientBucket> inFlight = new ArrayDeque<>();
    private long waitedNanos;
    private long bucketsLaunched;
    private int mostInFlight;

    /**
     * @param group the shard group the gradients are reduce-scattered over
     * @param capElements gradient elements per bucket; 0 or less: one bucket per {@link #add}
     * @param overlap leave collectives in flight while backward continues
     * @param reduceType the dtype gradients travel in
     */
    GradientReducer(Collectives group, long capElements, boolean overlap, ScalarType reduceType) {
        this.group = group;
        this.capElements = capElements;
        this.overlap = overlap;
        this.reduceType = reduceType;
    }

    /** Adds parameters whose gradients are complete; launches buckets as they fill. */
    void add(Collection<ShardedParameter> params) {
        for (ShardedParameter p : params) {
            pending.add(p);
            pendingElements += p.numel();
            if (capElements > 0 && pendingElements >= capElements) {
                launch();
            }
        }
        if (capElements <= 0) {
            launch();
        }
    }

    /** Launches what is pending and waits for every bucket: the gradient partitions are then complete. */
    void finishAll() {
        launch();
        while (!inFlight.isEmpty()) {
            finish(inFlight.poll());
        }
    }

    private void launch() {
        if (pending.isEmpty()) {
            return;
        }
        GradientBucket b = GradientBucket.start(new ArrayList<>(pending), group, reduceType);
        pending.clear();
        pendingElements = 0;
        if (b == null) {
            return;
        }
        bucketsLaunched++;
        if (!overlap) {
            finish(b);
            return;
        }
        while (inFlight.size() >= MAX_IN_FLIGHT) {
            finish(inFlight.poll());
        }
        inFlight.add(b);
        mostInFlight = Math.max(mostInFlight, inFlight.size());
    }

    private void finish(GradientBucket b) {
        long t0 = System.nanoTime();
        b.finish();
        waitedNanos += System.nanoTime() - t0;
    }

    /** Nanoseconds spent waiting for reductions since the last call (then reset). */
    long takeWaitedNanos() {
        long w = waitedNanos;
        waitedNanos = 0;
        return w;
    }

    /** Buckets launched so far. */
    long bucketsLaunched() {
        return bucketsLaunched;
    }

    /** Buckets in flight now. */
    int inFlight() {
        return inFlight.size();
    }

    /** The most buckets that were in flight at once (0 when every bucket was waited for at launch). */
    int mostInFlight() {
        return mostInFlight;
    }
}
