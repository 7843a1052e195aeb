package ai.axolotl.sharding.ddp;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The gradients of data parallel, grouped into buckets of about {@code capBytes} in backward order, each bucket one
 * flat tensor whose views ARE the parameters' gradients (PyTorch DDP's {@code gradient_as_bucket_view}): autograd
 * accumulates into the views in place, a bucket's all-reduce runs in place on its flat tensor as soon as the last
 * of its parameters has its gradient on the step's last micro-batch, and the sums are the gradients when it
 * completes, with no copy of them anywhere.
 *
 * <p>A bucket's flat tensor exists only while the step needs it: it is made, zeroed, just before the backward of
 * the first unit whose backward writes into it (a tied embedding's bucket before the head's, which starts that
 * gradient), so it is not held during forward, where activations peak; it is kept through the step's micro-batches
 * and released with the gradients after the optimizer step ({@link #release()}). Every rank builds the same buckets
 * from the same units and launches them in the same order.
 */
final class GradientBuckets implements AutoCloseable {
    private final Collectives group;
    private final List<Bucket> buckets = new ArrayList<>();
    private final Map<String, List<Bucket>> bucketsOfUnit = new LinkedHashMap<>();
    private final Map<String, List<Bucket>> bucketsUsedByUnit = new LinkedHashMap<>();
    private int launched;

    /** One bucket: parameters of one dtype and device, and while the step needs them, their flat gradient. */
    private static final class Bucket {
        final List<String> names = new ArrayList<>();
        final List<Tensor> params = new ArrayList<>();
        final ScalarType type;
        long numel;
        Tensor flat;
        int pending;
        CollectiveWork work;

        Bucket(ScalarType type) {
            this.type = type;
        }
    }

    /**
     * Lays out the buckets over {@code units} (forward order) walked in backward order; a bucket closes once it
     * holds {@code capBytes} or when the dtype changes.
     */
    GradientBuckets(Collectives group, List<ModelUnit> units, long capBytes) {
        this.group = group;
        Set<String> seen = new HashSet<>();
        Bucket current = null;
        for (int u = units.size() - 1; u >= 0; u--) {
            for (Map.Entry<String, Tensor> e : units.get(u).parameters().entrySet()) {
                Tensor p = e.getValue();
                if (!p.requires_grad() || !seen.add(e.getKey())) {
                    continue;
                }
                ScalarType type = p.scalar_type().intern(); // natives return fresh enum instances
                if (current != null && current.type != type) {
                    buckets.add(current);
                    current = null;
                }
                if (current == null) {
                    current = new Bucket(type);
                }
                current.names.add(e.getKey());
                current.params.add(p);
                current.numel += p.numel();
                if (current.numel * p.element_size() >= capBytes) {
                    buckets.add(current);
                    current = null;
                }
            }
        }
        if (current != null) {
            buckets.add(current);
        }
        Map<String, Bucket> bucketOf = new LinkedHashMap<>();
        for (Bucket b : buckets) {
            b.names.forEach(n -> bucketOf.put(n, b));
        }
        for (ModelUnit unit : units) {
            bucketsOfUnit.put(unit.name(), holding(unit.parameters().keySet(), bucketOf));
            bucketsUsedByUnit.put(unit.name(), holding(unit.usedParameters().keySet(), bucketOf));
        }
    }

    /** The buckets holding {@code names}' gradients, each once, in first-name order. */
    private static List<Bucket> holding(Set<String> names, Map<String, Bucket> bucketOf) {
        List<Bucket> out = new ArrayList<>();
        for (String name : names) {
            Bucket b = bucketOf.get(name);
            if (b != null && !out.contains(b)) {
                out.add(b);
            }
        }
        return out;
    }

    /**
     * Makes the flat gradients of the buckets of every parameter {@code unit} uses (its own, and a tied weight it
     * borrows, whose gradient its backward starts), when not made yet this step.
     */
    void beforeBackward(ModelUnit unit) {
        for (Bucket b : bucketsUsedByUnit.getOrDefault(unit.name(), List.of())) {
            if (b.flat == null) {
                allocate(b);
            }
        }
    }

    private void allocate(Bucket b) {
        Tensor first = b.params.get(0);
        b.flat = Tensors.unscoped(torch.empty(new long[] {b.numel}, Tensors.optionsOn(b.type, first), null));
        b.flat.zero_();
        long offset = 0;
        for (Tensor p : b.params) {
            long n = p.numel();
            try (Tensor slice = b.flat.narrow(0, offset, n); Tensor view = slice.view(p.shape());
                 Tensor existing = p.grad()) {
                if (existing.defined()) {
                    view.copy_(existing);
                }
                p.mutable_grad().put(view);
            }
            offset += n;
        }
        b.pending = b.params.size();
    }

    /**
     * The step's last micro-batch finished {@code unit}'s backward: its parameters' gradients are complete; every
     * bucket they complete starts its all-reduce.
     */
    void afterLastBackward(ModelUnit unit) {
        for (Bucket b : bucketsOfUnit.getOrDefault(unit.name(), List.of())) {
            for (String name : b.names) {
                if (unit.parameters().containsKey(name)) {
                    b.pending--;
                }
            }
            if (b.pending == 0 && b.work == null) {
                launch(b);
            }
        }
    }

    private void launch(Bucket b) {
        requireViews(b);
        b.work = group.allReduceSum(b.flat);
        launched++;
    }

    /** A gradient replaced behind the bucket's back (set to none, reassigned) would not be reduced: refused. */
    private static void requireViews(Bucket b) {
        long start = b.flat.data_ptr().address();
        long end = start + b.flat.numel() * b.flat.element_size();
        for (int i = 0; i < b.params.size(); i++) {
            try (Tensor g = b.params.get(i).grad()) {
                long at = g.defined() ? g.data_ptr().address() : 0;
                if (at < start || at >= end) {
                    throw new IllegalStateException("data parallel: the gradient of " + b.names.get(i)
                            + " is no longer a view of its bucket (replaced or cleared during the step)");
                }
            }
        }
    }

    /** Buckets started so far. */
    int launched() {
        return launched;
    }

    /**
     * Starts every bucket made this step but not yet started (in bucket order, the same on every rank) and waits
     * for all: the gradients then hold the sums over the group. Nothing happens in a step without backward.
     */
    void finish() {
        for (Bucket b : buckets) {
            if (b.flat != null && b.work == null) {
                launch(b);
            }
        }
        for (Bucket b : buckets) {
            if (b.work != null) {
                b.work.await();
                b.work = null;
            }
        }
    }

    /**
     * Ends the step: every gradient is set to none and the flat tensors are released (their storage goes with the
     * last view). The next step makes them again during its backward.
     */
    void release() {
        for (Bucket b : buckets) {
            if (b.flat == null) {
                continue;
            }
            for (Tensor p : b.params) {
                try (Tensor none = new Tensor()) {
                    p.mutable_grad().put(none);
                }
            }
            b.flat.close();
            b.flat = null;
            b.work = null;
            b.pending = 0;
        }
    }

    @Override
    public void close() {
        release();
    }
}
