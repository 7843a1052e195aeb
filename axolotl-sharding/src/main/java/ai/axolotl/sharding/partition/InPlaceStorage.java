package ai.axolotl.sharding.partition;

import org.bytedeco.pytorch.DataPtr;
import org.bytedeco.pytorch.Storage;
import org.bytedeco.pytorch.Tensor;

/**
 * The storage of a gather buffer, freed in place between uses and allocated again before the next gather: the
 * storage keeps its identity with zero bytes, so every view of it (the model's tensors, and what autograd saved in
 * forward) reads the gathered values again once it is refilled (what FSDP2 does by resizing the unsharded storage).
 * It does not own the buffer.
 */
final class InPlaceStorage {
    private final Tensor buffer;
    private final long bytes;
    private boolean allocated = true;

    /** @param buffer an allocated buffer; its size now is what every allocation restores */
    InPlaceStorage(Tensor buffer) {
        this.buffer = buffer;
        try (Storage s = buffer.storage()) {
            this.bytes = s.nbytes();
        }
    }

    /** True while the storage holds its bytes. */
    boolean allocated() {
        return allocated;
    }

    /** Gives the storage its bytes again (contents undefined until written); nothing when it has them. */
    void allocate() {
        if (allocated) {
            return;
        }
        try (Storage s = buffer.storage(); DataPtr data = s.allocator()._allocate(bytes)) {
            s.set_data_ptr_noswap(data);
            s.set_nbytes(bytes);
        }
        allocated = true;
    }

    /** Releases the storage's bytes, keeping the storage; nothing when it has none. */
    void free() {
        if (!allocated) {
            return;
        }
        try (Storage s = buffer.storage(); DataPtr none = new DataPtr()) {
            s.set_data_ptr_noswap(none);
            s.set_nbytes(0);
        }
        allocated = false;
    }

    /** Bytes the storage holds now, read from the storage itself (0 while freed). */
    long heldBytes() {
        try (Storage s = buffer.storage()) {
            return s.nbytes();
        }
    }
}
