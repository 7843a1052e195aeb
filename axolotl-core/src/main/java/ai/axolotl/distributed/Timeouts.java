package ai.axolotl.distributed;

import java.time.Duration;
import java.util.Map;

/** The bound on every collective and on the rendezvous: {@code AXOLOTL_NCCL_TIMEOUT} seconds, default 1800. */
public final class Timeouts {
    /** Environment variable holding the timeout in seconds. */
    public static final String ENV = "AXOLOTL_NCCL_TIMEOUT";
    /** Default timeout. */
    public static final Duration DEFAULT = Duration.ofSeconds(1800);

    private Timeouts() {}

    /** The timeout from the environment (or the default). */
    public static Duration fromEnvironment(Map<String, String> env) {
        String v = env.get(ENV);
        if (v == null || v.isBlank()) {
            return DEFAULT;
        }
        try {
            long s = Long.parseLong(v.trim());
            if (s <= 0) {
                throw new NumberFormatException();
            }
            return Duration.ofSeconds(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(ENV + "='" + v + "' must be a positive number of seconds");
        }
    }
}
