package ai.axolotl.nccl;

import ai.axolotl.runtime.Natives;
import org.bytedeco.pytorch.global.torch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The NCCL environment of a rank, decided before NCCL initialises (NCCL reads it from the process environment when
 * its first communicator is made):
 * <ul>
 *   <li>{@code NCCL_P2P_DISABLE=1} when some pair of the node's GPUs cannot access each other's memory and the
 *       user did not set it (Axolotl's rule: P2P support not detected). Every ordered pair of visible GPUs is
 *       probed through cudart's {@code cudaDeviceCanAccessPeer};</li>
 *   <li>{@code NCCL_IB_DISABLE}, {@code NCCL_SOCKET_IFNAME}, {@code NCCL_BUFFSIZE}, {@code NCCL_DEBUG},
 *       {@code NCCL_DEBUG_SUBSYS}, {@code NCCL_P2P_LEVEL} passed through as given and logged.</li>
 * </ul>
 * Every rank applies it to its own process ({@link #applyToThisProcess()}) before its first NCCL group, whichever
 * launcher started it (threads, local JVMs, torchrun, SLURM, Spark).
 */
public final class NcclEnvironment {
    private static final Logger LOG = LoggerFactory.getLogger(NcclEnvironment.class);

    /** Variables passed through to every rank and logged. */
    public static final List<String> PASSED_THROUGH = List.of("NCCL_IB_DISABLE", "NCCL_SOCKET_IFNAME",
            "NCCL_BUFFSIZE", "NCCL_DEBUG", "NCCL_DEBUG_SUBSYS", "NCCL_P2P_LEVEL", "NCCL_P2P_DISABLE");

    private static boolean applied;

    /** Whether the local GPUs can access each other's memory. */
    public enum PeerAccess { SUPPORTED, UNSUPPORTED, UNKNOWN }

    /**
     * What the probe found.
     *
     * @param access every pair can, some pair cannot, or the probe could not run
     * @param detail the pairs that cannot, or why the probe could not run ("" when every pair can)
     */
    public record PeerAccessReport(PeerAccess access, String detail) {}

    /** One cudart question: can GPU {@code device} access GPU {@code peer}'s memory. */
    @FunctionalInterface
    public interface PeerProbe {
        /**
         * Asks the driver.
         *
         * @return 1 when it can, 0 when it cannot
         * @throws ProbeUnavailableException when the question cannot be asked (no bindings, a CUDA error)
         */
        int canAccessPeer(int device, int peer);
    }

    /** The peer-access question could not be asked. */
    public static final class ProbeUnavailableException extends RuntimeException {
        /** @param message why */
        public ProbeUnavailableException(String message) {
            super(message);
        }
    }

    /**
     * The decision.
     *
     * @param variables variables for each rank's environment
     * @param notes what was decided and why, one line each, for the log
     */
    public record Decision(Map<String, String> variables, List<String> notes) {}

    /** Sets one variable in an environment. */
    @FunctionalInterface
    public interface EnvironmentWriter {
        /** Sets {@code name} to {@code value}. */
        void set(String name, String value);
    }

    private NcclEnvironment() {}

    /** Decides a rank's NCCL variables from the launcher's environment and the GPUs' peer access. */
    public static Decision decide(Map<String, String> env, PeerAccessReport peerAccess, int localGpus) {
        Map<String, String> vars = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        for (String k : PASSED_THROUGH) {
            if (env.containsKey(k)) {
                vars.put(k, env.get(k));
                notes.add(k + "=" + env.get(k) + " (from the environment)");
            }
        }
        if (localGpus > 1 && !env.containsKey("NCCL_P2P_DISABLE")) {
            switch (peerAccess.access()) {
                case UNSUPPORTED -> {
                    vars.put("NCCL_P2P_DISABLE", "1");
                    notes.add("NCCL_P2P_DISABLE=1: P2P support not detected between the local GPUs ("
                            + peerAccess.detail() + ")");
                }
                case UNKNOWN -> notes.add("peer access between the " + localGpus + " local GPUs not probed ("
                        + peerAccess.detail() + "); set NCCL_P2P_DISABLE=1 if NCCL fails with 'unhandled cuda "
                        + "error'");
                case SUPPORTED -> notes.add("peer access: every pair of the " + localGpus + " local GPUs supports it");
            }
        }
        return new Decision(vars, notes);
    }

    /**
     * Probes every ordered pair of the {@code localGpus} visible GPUs (access need not be symmetric). UNSUPPORTED
     * names each pair that lacks it; UNKNOWN says why the probe could not run; fewer than two GPUs need no probe.
     */
    public static PeerAccessReport probePeerAccess(int localGpus, PeerProbe probe) {
        if (localGpus < 2) {
            return new PeerAccessReport(PeerAccess.UNKNOWN, "fewer than two GPUs");
        }
        List<String> lacking = new ArrayList<>();
        try {
            for (int a = 0; a < localGpus; a++) {
                for (int b = 0; b < localGpus; b++) {
                    if (a != b && probe.canAccessPeer(a, b) == 0) {
                        lacking.add("cuda:" + a + " -> cuda:" + b);
                    }
                }
            }
        } catch (ProbeUnavailableException e) {
            return new PeerAccessReport(PeerAccess.UNKNOWN, e.getMessage());
        }
        return lacking.isEmpty() ? new PeerAccessReport(PeerAccess.SUPPORTED, "")
                : new PeerAccessReport(PeerAccess.UNSUPPORTED, "no peer access " + String.join(", ", lacking));
    }

    /** {@link #probePeerAccess(int, PeerProbe)} through cudart, when its bindings are on the class path. */
    public static PeerAccessReport probePeerAccess(int localGpus) {
        return probePeerAccess(localGpus, cudart());
    }

    /**
     * cudart's {@code cudaDeviceCanAccessPeer}, reached by reflection: the bindings ({@code org.bytedeco:cuda}) come
     * with the gpu profile only, and CPU builds must still compile and load this class.
     */
    static PeerProbe cudart() {
        Method m;
        try {
            m = Class.forName("org.bytedeco.cuda.global.cudart")
                    .getMethod("cudaDeviceCanAccessPeer", int[].class, int.class, int.class);
        } catch (ReflectiveOperationException | LinkageError e) {
            return (a, b) -> {
                throw new ProbeUnavailableException("the cudart bindings (org.bytedeco:cuda, added by mvn -Pgpu) "
                        + "are not on the class path");
            };
        }
        return (a, b) -> {
            int[] can = new int[1];
            Object status;
            try {
                status = m.invoke(null, can, a, b);
            } catch (ReflectiveOperationException | LinkageError e) {
                throw new ProbeUnavailableException("cudaDeviceCanAccessPeer failed: " + e);
            }
            if (!Integer.valueOf(0).equals(status)) {
                throw new ProbeUnavailableException("cudaDeviceCanAccessPeer(cuda:" + a + ", cuda:" + b
                        + ") returned CUDA error " + status);
            }
            return can[0];
        };
    }

    /**
     * Writes the decision's variables that {@code env} lacks through {@code writer} (a value the user set is never
     * replaced) and returns the names written.
     */
    public static List<String> apply(Decision decision, Map<String, String> env, EnvironmentWriter writer) {
        List<String> written = new ArrayList<>();
        decision.variables().forEach((k, v) -> {
            if (!env.containsKey(k)) {
                writer.set(k, v);
                written.add(k);
            }
        });
        return written;
    }

    /**
     * Decides this process's NCCL environment (its GPUs probed) and applies it with libtorch's {@code set_env},
     * once per process, logging each note; NCCL then reads it when the first communicator is made. Called by the
     * NCCL provider before it creates a group.
     */
    public static synchronized void applyToThisProcess() {
        if (applied) {
            return;
        }
        applied = true;
        int gpus = Natives.cudaDeviceCount();
        Map<String, String> env = System.getenv();
        Decision d = decide(env, probePeerAccess(gpus), gpus);
        d.notes().forEach(n -> LOG.info("NCCL: {}", n));
        apply(d, env, (k, v) -> torch.set_env(k, v, false));
    }
}
