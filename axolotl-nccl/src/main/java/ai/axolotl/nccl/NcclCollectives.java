package ai.axolotl.nccl;

import ai.axolotl.distributed.BackendCollectives;
import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.runtime.Natives;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.PrefixStore;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.bytedeco.pytorch.nccl.ProcessGroupNCCL;

import java.time.Duration;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * {@link Collectives} over c10d's {@code ProcessGroupNCCL} for CUDA builds ({@code mvn -Pgpu}); tensors must be
 * on this rank's GPU. Store ownership follows the Gloo implementation: the group gets its own store clone.
 */
public final class NcclCollectives extends BackendCollectives {
    private final Supplier<String> diagnosis;

    private NcclCollectives(ProcessGroupNCCL pg, int rank, int size, Duration timeout, Supplier<String> diagnosis) {
        super(pg, rank, size, timeout);
        this.diagnosis = diagnosis;
    }

    /** True when this build can create NCCL groups (CUDA natives and a GPU). */
    public static boolean available() {
        return Natives.cudaAvailable();
    }

    /** Creates a group; every member must call it. Fails with a clear message on CPU builds. */
    public static NcclCollectives create(Store store, String prefix, int rank, int size, Duration timeout) {
        return create(store, prefix, rank, size, timeout, () -> "");
    }

    /**
     * Creates a group whose failures name the ranks {@code diagnosis} reports (the peer monitor's view); every
     * member must call it.
     */
    public static NcclCollectives create(Store store, String prefix, int rank, int size, Duration timeout,
                                         Supplier<String> diagnosis) {
        if (!available()) {
            throw new CollectiveException("NCCL needs a CUDA build (mvn -Pgpu) and a GPU; this process has none "
                    + "(use Gloo on the CPU)");
        }
        PrefixStore prefixed = new PrefixStore(prefix, store.clone());
        ProcessGroupNCCL.Options opts = ProcessGroupNCCL.Options.create();
        ProcessGroupNCCL pg = new ProcessGroupNCCL(prefixed, rank, size, opts);
        prefixed.deallocate(false);
        pg.setTimeout(new Milliseconds(timeout.toMillis()));
        return new NcclCollectives(pg, rank, size, timeout, diagnosis);
    }

    /** The scalar travels as a one-element tensor on the current CUDA device (NCCL carries device memory only). */
    @Override
    public double allReduceSum(double value) {
        try (Tensor host = Tensor.create(new double[] {value}); Device cuda = new Device("cuda");
             Tensor t = host.to(cuda, ScalarType.Double)) {
            allReduceSum(t).await();
            return t.item_double();
        }
    }

    @Override
    protected CollectiveException failure(String op, RuntimeException e) {
        String msg = firstLine(e.getMessage());
        return new CollectiveException(op + " on rank " + rank() + " of " + size() + " failed: " + msg
                + diagnosisSuffix(diagnosis) + hint(msg), e);
    }

    /** What usually causes an NCCL error with this message. */
    static String hint(String msg) {
        String m = msg.toLowerCase(Locale.ROOT);
        if (m.contains("unhandled cuda error")) {
            return " (NCCL's 'unhandled cuda error' on one node is most often GPUs without peer-to-peer access: "
                    + "each rank sets NCCL_P2P_DISABLE=1 when its probe finds a pair without it; set it yourself "
                    + "if the probe could not run, and check NCCL_DEBUG=INFO output)";
        }
        if (m.contains("timeout") || m.contains("timed out") || m.contains("watchdog")) {
            return " (a rank did not join within the timeout: ddp_timeout, else AXOLOTL_NCCL_TIMEOUT)";
        }
        return "";
    }
}
