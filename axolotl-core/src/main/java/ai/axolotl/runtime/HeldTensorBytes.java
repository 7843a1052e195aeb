package ai.axolotl.runtime;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Storage;
import org.bytedeco.pytorch.Tensor;

import java.util.HashSet;
import java.util.Set;

/**
 * Adds up the bytes of the storages behind a set of tensors, each storage once however many tensors view it (a
 * shard that is a view of a full buffer costs nothing extra). What is counted is what the storages hold now,
 * read from libtorch, not what a formula says they should hold.
 */
public final class HeldTensorBytes {
    private final Set<Long> seen = new HashSet<>();
    private long total;

    /** Counts {@code t}'s storage if it has one with memory and it was not counted yet; null is ignored. */
    public HeldTensorBytes add(Tensor t) {
        if (t == null || t.isNull() || !t.defined() || !t.has_storage()) {
            return this;
        }
        try (Storage s = t.storage()) {
            Pointer data = s.data(); // null while the storage is freed in place
            long address = data == null ? 0 : data.address();
            if (address != 0 && seen.add(address)) {
                total += s.nbytes();
            }
        }
        return this;
    }

    /** Bytes counted so far. */
    public long total() {
        return total;
    }
}
