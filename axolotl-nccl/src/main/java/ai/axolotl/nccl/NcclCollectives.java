package ai.axolotl.nccl;

import ai.axolotl.distributed.BackendCollectives;
import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.runtime.Natives;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.PrefixStore;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.nccl.ProcessGroupNCCL;

import java.time.Duration;

/**
 * {@link Collectives} over c10d's {@code ProcessGroupNCCL} for CUDA builds ({@code mvn -Pgpu}); tensors must be
 * on this rank's GPU. Store ownership follows the Gloo implementation: the group gets its own store clone.
 */
public final class NcclCollectives extends BackendCollectives {
    private NcclCollectives(ProcessGroupNCCL pg, int rank, int size, Duration timeout) {
        super(pg, rank, size, timeout);
    }

    /** True when this build can create NCCL groups (CUDA natives and a GPU). */
    public static boolean available() {
        return Natives.cudaAvailable();
    }

    /** Creates a group; every member must call it. Fails with a clear message on CPU builds. */
    public static NcclCollectives create(Store store, String prefix, int rank, int size, Duration timeout) {
        if (!available()) {
            throw new CollectiveException("NCCL needs a CUDA build (mvn -Pgpu) and a GPU; this process has none "
                    + "(use Gloo on the CPU)");
        }
        PrefixStore prefixed = new PrefixStore(prefix, store.clone());
        ProcessGroupNCCL.Options opts = ProcessGroupNCCL.Options.create();
        ProcessGroupNCCL pg = new ProcessGroupNCCL(prefixed, rank, size, opts);
        prefixed.deallocate(false);
        pg.setTimeout(new Milliseconds(timeout.toMillis()));
        return new NcclCollectives(pg, rank, size, timeout);
    }

    @Override
    protected CollectiveException failure(String op, RuntimeException e) {
        return new CollectiveException(op + " on rank " + rank() + " of " + size() + " failed: " + e.getMessage(), e);
    }
}
