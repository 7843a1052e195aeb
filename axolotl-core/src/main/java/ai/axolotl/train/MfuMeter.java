package ai.axolotl.train;

import ai.axolotl.runtime.PeakFlops;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.IntSupplier;

/**
 * Model FLOPs utilization of a rank, one logging window at a time: the window's achieved FLOP/s
 * ({@code flops_per_s}, tokens/s x FLOPs per token on this rank) and, when a peak is known, {@code mfu} = achieved /
 * peak, never above 1.
 *
 * <p>On the CPU the peak is the best measured single-thread GEMM rate times the intra-op threads libtorch reports
 * for this window (read each time, not assumed). When a window's achieved rate passes that peak, the first
 * measurement was taken on a busy machine: the GEMMs are timed again and the best rate kept. If the run still
 * beats it, no trustworthy peak exists: {@code mfu} is left out of that window and the log says why, once. On a
 * GPU the peak is the vendor table's and is not re-measured; a window above it is left out the same way.
 */
final class MfuMeter {
    private static final Logger LOG = LoggerFactory.getLogger("axolotl.train");

    /** Where a CPU peak's single-thread rate comes from ({@link PeakFlops} measures GEMMs). */
    interface SingleThreadRate {
        /** The single-thread FLOP/s; {@code again}: time the GEMMs anew and keep the best. */
        double rate(ScalarType compute, boolean again);

        /** The measured rate of {@link PeakFlops}. */
        SingleThreadRate GEMM = (compute, again) -> again ? PeakFlops.remeasureSingleThreadGemmRate(compute)
                : PeakFlops.singleThreadGemmRate(compute);
    }

    private final double flopsPerToken;
    private final ScalarType compute;
    private final SingleThreadRate cpuRate;
    private final IntSupplier threads;
    private PeakFlops gpuPeak;
    private double singleThread;
    private boolean saidUntrusted;

    private MfuMeter(double flopsPerToken, ScalarType compute, SingleThreadRate cpuRate, IntSupplier threads,
                     PeakFlops gpuPeak) {
        this.flopsPerToken = flopsPerToken;
        this.compute = compute;
        this.cpuRate = cpuRate;
        this.threads = threads;
        this.gpuPeak = gpuPeak;
        this.singleThread = cpuRate == null ? 0 : cpuRate.rate(compute, false);
    }

    /**
     * A CPU rank's meter.
     *
     * @param flopsPerToken training FLOPs of one token on this rank
     * @param rate the single-thread rate source ({@link SingleThreadRate#GEMM})
     * @param threads the intra-op threads the rank runs with, read at each window
     */
    static MfuMeter cpu(double flopsPerToken, ScalarType compute, SingleThreadRate rate, IntSupplier threads) {
        return new MfuMeter(flopsPerToken, compute, rate, threads, null);
    }

    /** A GPU rank's meter against a fixed peak; {@code peak} null: only {@code flops_per_s} is written. */
    static MfuMeter gpu(double flopsPerToken, PeakFlops peak) {
        return new MfuMeter(flopsPerToken, null, null, null, peak);
    }

    /** The peak this window would be measured against (null when none is known). */
    PeakFlops peak() {
        if (cpuRate == null) {
            return gpuPeak;
        }
        return PeakFlops.forCpu(compute, singleThread, threads.getAsInt());
    }

    /**
     * The fields of one logging window: {@code flops_per_s} (this rank's achieved rate) and {@code mfu} when the
     * peak holds (at most 1).
     */
    Map<String, Object> fields(double tokensPerSecond) {
        Map<String, Object> m = new LinkedHashMap<>();
        double achieved = tokensPerSecond * flopsPerToken;
        m.put("flops_per_s", (double) Math.round(achieved));
        PeakFlops peak = peak();
        if (peak == null || !(achieved > 0)) {
            return m;
        }
        if (achieved > peak.flopsPerSecond() && cpuRate != null) {
            double before = peak.flopsPerSecond();
            singleThread = Math.max(singleThread, cpuRate.rate(compute, true));
            peak = peak();
            LOG.info(String.format(Locale.ROOT, "mfu: this rank reached %.2f GFLOP/s, above the peak of %.2f "
                    + "GFLOP/s; GEMMs timed again: %s", achieved / 1e9, before / 1e9, peak.source()));
        }
        if (achieved > peak.flopsPerSecond()) {
            if (!saidUntrusted) {
                saidUntrusted = true;
                LOG.warn(String.format(Locale.ROOT, "mfu left out: this rank reached %.2f GFLOP/s, above the peak "
                        + "it would be measured against (%s), so that peak cannot be trusted; flops_per_s is still "
                        + "written", achieved / 1e9, peak.source()));
            }
            return m;
        }
        m.put("mfu", Math.round(achieved / peak.flopsPerSecond() * 1e4) / 1e4);
        return m;
    }
}
