package ai.axolotl.nccl;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The NCCL environment of a rank, decided before NCCL initialises (NCCL reads it once, from the process
 * environment, so launchers apply it to the ranks they spawn):
 * <ul>
 *   <li>{@code NCCL_P2P_DISABLE=1} when the GPUs cannot access each other's memory and the user did not set it
 *       (Axolotl's rule: P2P support not detected);</li>
 *   <li>{@code NCCL_IB_DISABLE}, {@code NCCL_SOCKET_IFNAME}, {@code NCCL_BUFFSIZE}, {@code NCCL_DEBUG},
 *       {@code NCCL_DEBUG_SUBSYS}, {@code NCCL_P2P_LEVEL} passed through as given and logged.</li>
 * </ul>
 */
public final class NcclEnvironment {
    /** Variables passed through to every rank and logged. */
    public static final List<String> PASSED_THROUGH = List.of("NCCL_IB_DISABLE", "NCCL_SOCKET_IFNAME",
            "NCCL_BUFFSIZE", "NCCL_DEBUG", "NCCL_DEBUG_SUBSYS", "NCCL_P2P_LEVEL", "NCCL_P2P_DISABLE");

    /** Whether the local GPUs can access each other's memory. */
    public enum PeerAccess { SUPPORTED, UNSUPPORTED, UNKNOWN }

    /**
     * The decision.
     *
     * @param variables variables for each rank's environment
     * @param notes what was decided and why, one line each, for the log
     */
    public record Decision(Map<String, String> variables, List<String> notes) {}

    private NcclEnvironment() {}

    /** Decides a rank's NCCL variables from the launcher's environment and the GPUs' peer access. */
    public static Decision decide(Map<String, String> env, PeerAccess peerAccess, int localGpus) {
        Map<String, String> vars = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        for (String k : PASSED_THROUGH) {
            if (env.containsKey(k)) {
                vars.put(k, env.get(k));
                notes.add(k + "=" + env.get(k) + " (from the environment)");
            }
        }
        if (!env.containsKey("NCCL_P2P_DISABLE") && localGpus > 1 && peerAccess == PeerAccess.UNSUPPORTED) {
            vars.put("NCCL_P2P_DISABLE", "1");
            notes.add("NCCL_P2P_DISABLE=1: P2P support not detected between the local GPUs");
        }
        return new Decision(vars, notes);
    }

    /**
     * Peer access between the first two local GPUs through {@code cudaDeviceCanAccessPeer}, when the CUDA
     * bindings are on the class path; UNKNOWN on CPU builds.
     */
    public static PeerAccess probePeerAccess(int localGpus) {
        if (localGpus < 2) {
            return PeerAccess.UNKNOWN;
        }
        try {
            Class<?> cudart = Class.forName("org.bytedeco.cuda.global.cudart");
            int[] can = new int[1];
            Object status = cudart.getMethod("cudaDeviceCanAccessPeer", int[].class, int.class, int.class)
                    .invoke(null, can, 0, 1);
            if (!Integer.valueOf(0).equals(status)) {
                return PeerAccess.UNKNOWN;
            }
            return can[0] != 0 ? PeerAccess.SUPPORTED : PeerAccess.UNSUPPORTED;
        } catch (ReflectiveOperationException | LinkageError e) {
            return PeerAccess.UNKNOWN;
        }
    }
}
