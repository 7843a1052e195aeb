package ai.axolotl.train;

import ai.axolotl.config.SchedulerSettings;

/**
 * Learning-rate factor per optimizer step with Hugging Face semantics ({@code get_scheduler}): step {@code s}
 * (0-based) uses {@code peak * factor(s)}; warmup rises linearly from 0; {@code constant} ignores warmup as HF's
 * does ({@code constant_with_warmup} applies it).
 */
public final class LrSchedule {
    private final String type;
    private final int warmup;
    private final int total;
    private final double minRatio;

    /**
     * @param type schedule name
     * @param warmupSteps warmup steps (already resolved)
     * @param totalSteps optimizer steps of the run
     * @param cosineMinLrRatio floor of the cosine as a fraction of the peak
     */
    public LrSchedule(String type, int warmupSteps, int totalSteps, double cosineMinLrRatio) {
        this.type = type;
        this.warmup = warmupSteps;
        this.total = totalSteps;
        this.minRatio = cosineMinLrRatio;
    }

    /** Resolves warmup as Axolotl does: warmup_steps, else warmup_ratio x total, else min(3% of total, 100). */
    public static LrSchedule of(SchedulerSettings s, int totalSteps) {
        int warmup;
        if (s.warmupSteps() != null) {
            warmup = s.warmupSteps();
        } else if (s.warmupRatio() != null) {
            warmup = (int) Math.ceil(s.warmupRatio() * totalSteps);
        } else {
            warmup = Math.min((int) (0.03 * totalSteps), 100);
            if (warmup == 1) {
                warmup = 2;
            }
        }
        return new LrSchedule(s.lrScheduler(), warmup, totalSteps, s.cosineMinLrRatio());
    }

    /** Warmup steps in effect. */
    public int warmupSteps() {
        return warmup;
    }

    /** The multiplier of the peak learning rate at 0-based step {@code s}. */
    public double factor(int s) {
        if (type.equals("constant")) {
            return 1.0;
        }
        if (s < warmup) {
            return (double) s / Math.max(1, warmup);
        }
        return switch (type) {
            case "constant_with_warmup" -> 1.0;
            case "linear" -> Math.max(0.0, (double) (total - s) / Math.max(1, total - warmup));
            case "cosine" -> {
                double progress = (double) (s - warmup) / Math.max(1, total - warmup);
                double cos = 0.5 * (1.0 + Math.cos(Math.PI * progress));
                yield Math.max(0.0, minRatio + (1.0 - minRatio) * cos);
            }
            default -> throw new IllegalArgumentException("unknown lr_scheduler " + type);
        };
    }
}
