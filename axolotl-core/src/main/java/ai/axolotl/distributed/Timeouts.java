package ai.axolotl.distributed;

import ai.axolotl.config.ParallelSettings;

import java.time.Duration;
import java.util.Map;

/**
 * The bound on every collective and on the rendezvous: the config's {@code ddp_timeout} seconds when set (the
 * run's own setting wins), else {@code AXOLOTL_NCCL_TIMEOUT} seconds from the environment, else 1800.
 */
public final class Timeouts {
    /** Environment variable holding the timeout in seconds. */
    public static final String ENV = "AXOLOTL_NCCL_TIMEOUT";
    /** Default timeout. */
    public static final Duration DEFAULT = Duration.ofSeconds(1800);

    private Timeouts() {}

    /** The timeout of a run: {@code ddp_timeout}, else the environment, else the default. */
    public static Duration forRun(ParallelSettings parallel, Map<String, String> env) {
        if (parallel != null && parallel.ddpTimeout() != null) {
            return Duration.ofSeconds(parallel.ddpTimeout());
        }
        return fromEnvironment(env);
    }

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
