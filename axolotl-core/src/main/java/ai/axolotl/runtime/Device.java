package ai.axolotl.runtime;

import org.slf4j.Logger;

import java.util.Locale;
import java.util.Map;

/**
 * The device a rank computes on, and why: the one decision per rank that the launchers log at start.
 *
 * <p>The rule is torchrun's: {@code cuda:LOCAL_RANK} when CUDA is usable, else {@code cpu}. The environment
 * variable {@value #OVERRIDE} ({@code cpu}, {@code cuda} or {@code cuda:K}) overrides it, for tests and for
 * machines whose GPUs a run must leave alone.
 *
 * @param type {@code cpu} or {@code cuda}
 * @param index the CUDA device ordinal; -1 for the CPU
 * @param reason why this device, for the log
 */
public record Device(String type, int index, String reason) {
    /** The environment variable that overrides the decision. */
    public static final String OVERRIDE = "AXOLOTL_DEVICE";

    /** The CPU, with the reason it was chosen. */
    public static Device cpu(String reason) {
        return new Device("cpu", -1, reason);
    }

    /** The device libtorch names {@code name} ({@code cpu}, {@code cuda:K}, {@code meta}), with a reason. */
    public static Device of(String name, String reason) {
        int colon = name.indexOf(':');
        return colon < 0 ? new Device(name, -1, reason)
                : new Device(name.substring(0, colon), Integer.parseInt(name.substring(colon + 1)), reason);
    }

    /** True for the CPU. */
    public boolean isCpu() {
        return type.equals("cpu");
    }

    /** True for a CUDA device. */
    public boolean isCuda() {
        return type.equals("cuda");
    }

    /** {@code cpu} or {@code cuda:K}, as PyTorch writes devices (a type without an ordinal, as {@code meta}). */
    public String name() {
        return index < 0 ? type : type + ":" + index;
    }

    /**
     * libtorch's device object for tensor options and moves (a new native object each call). Named in full because
     * it shares this record's simple name.
     */
    public org.bytedeco.pytorch.Device toTorch() {
        return new org.bytedeco.pytorch.Device(name());
    }

    /**
     * Decides the device of the rank with local rank {@code localRank} on a node with {@code cudaDevices} usable
     * CUDA devices.
     *
     * @param override the value of {@value #OVERRIDE}, or null
     * @throws IllegalArgumentException naming {@value #OVERRIDE} or LOCAL_RANK when the request cannot be met
     */
    public static Device decide(String override, int localRank, int cudaDevices) {
        if (override != null && !override.isBlank()) {
            String o = override.trim().toLowerCase(Locale.ROOT);
            if (o.equals("cpu")) {
                return cpu(OVERRIDE + "=cpu");
            }
            if (o.equals("cuda") || o.matches("cuda:\\d+")) {
                if (cudaDevices == 0) {
                    throw new IllegalArgumentException(OVERRIDE + "=" + override + " but no CUDA device is usable "
                            + "here (a CPU build of libtorch, or no GPU / driver)");
                }
                int k = o.equals("cuda") ? localRank : Integer.parseInt(o.substring(5));
                if (k >= cudaDevices) {
                    throw new IllegalArgumentException(OVERRIDE + "=" + override + " asks for cuda:" + k + " but "
                            + cudaDevices + " CUDA device(s) are visible");
                }
                return new Device("cuda", k, OVERRIDE + "=" + override);
            }
            throw new IllegalArgumentException(OVERRIDE + "='" + override + "': expected cpu, cuda or cuda:K");
        }
        if (cudaDevices == 0) {
            return cpu("no usable CUDA device (CPU build of libtorch, or no GPU)");
        }
        if (localRank >= cudaDevices) {
            throw new IllegalArgumentException("LOCAL_RANK " + localRank + " has no GPU: " + cudaDevices + " CUDA "
                    + "device(s) are visible; run at most that many ranks per node (or " + OVERRIDE + "=cpu)");
        }
        return new Device("cuda", localRank, "LOCAL_RANK " + localRank + " of " + cudaDevices + " visible GPU(s)");
    }

    /**
     * The device this rank trains on: {@link #decide} over the environment and the CUDA devices libtorch sees. The
     * model, optimizer state, batches and every buffer the strategies make are placed on it.
     */
    public static Device forRank(int localRank, Map<String, String> env) {
        return decide(env.get(OVERRIDE), localRank, Natives.cudaDeviceCount());
    }

    /** Logs the decision for {@code who} ("rank 3"). */
    public void log(Logger log, String who) {
        log.info("{}: device {} ({})", who, name(), reason);
    }
}
