package ai.axolotl.runtime;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The FLOP rate that model FLOPs utilization (MFU) divides by, with where it came from.
 *
 * <p>GPUs: the vendor's dense peak from a table (H100 SXM / PCIe, H200, A100; bf16/fp16 tensor cores and fp32
 * without TF32). CPUs have no such table that holds across machines: the rate of square GEMMs on one libtorch
 * thread is measured (the best of several timings at several sizes, so that one slow timing on a contended
 * machine cannot lower it) and multiplied by the intra-op threads the rank runs with.
 *
 * @param flopsPerSecond the peak a rank can reach
 * @param source how it was found, for the log
 */
public record PeakFlops(double flopsPerSecond, String source) {
    private static final int[] GEMM_SIZES = {256, 512, 1024};
    private static final long MIN_MEASURE_NANOS = 300_000_000L;
    private static final Map<ScalarType, Double> SINGLE_THREAD = new EnumMap<>(ScalarType.class);

    /**
     * A GPU's dense peak for the compute type, from the device name CUDA reports ({@code NVIDIA H100 80GB HBM3},
     * {@code NVIDIA A100-SXM4-80GB}, ...); empty for a GPU the table does not know.
     */
    public static Optional<PeakFlops> forGpu(String deviceName, ScalarType compute) {
        String n = deviceName.toUpperCase(Locale.ROOT);
        boolean half = compute == ScalarType.BFloat16 || compute == ScalarType.Half;
        double tera;
        if (n.contains("H200")) {
            tera = half ? 989.4 : 66.9;
        } else if (n.contains("H100")) {
            boolean pcie = n.contains("PCIE");
            tera = half ? (pcie ? 756.0 : 989.4) : (pcie ? 51.2 : 66.9);
        } else if (n.contains("A100")) {
            tera = half ? 312.0 : 19.5;
        } else {
            return Optional.empty();
        }
        return Optional.of(new PeakFlops(tera * 1e12, deviceName + " dense " + (half ? "bf16/fp16" : "fp32")
                + " peak " + tera + " TFLOP/s (vendor table)"));
    }

    /**
     * A CPU rank's peak from a single-thread rate: {@code singleThread x threads}.
     *
     * @param singleThread FLOP/s of one libtorch thread
     * @param threads the intra-op threads the rank runs with (libtorch's {@code get_num_threads})
     */
    public static PeakFlops forCpu(ScalarType compute, double singleThread, int threads) {
        return new PeakFlops(singleThread * threads, String.format(Locale.ROOT, "best measured %s GEMM on one "
                + "thread (sizes %s): %.2f GFLOP/s, x %d intra-op thread(s)", compute,
                Arrays.toString(GEMM_SIZES), singleThread / 1e9, threads));
    }

    /** This CPU rank's peak: {@link #singleThreadGemmRate} times {@code threads}. */
    public static PeakFlops forCpu(ScalarType compute, int threads) {
        return forCpu(compute, singleThreadGemmRate(compute), threads);
    }

    /**
     * FLOP/s of square GEMMs on one libtorch thread: the best timing over sizes 256, 512 and 1024, measured once
     * per JVM and type (about 1 s, libtorch set to one thread meanwhile, its thread count restored after).
     */
    public static synchronized double singleThreadGemmRate(ScalarType type) {
        Double cached = SINGLE_THREAD.get(type);
        return cached != null ? cached : remeasureSingleThreadGemmRate(type);
    }

    /**
     * Measures the single-thread GEMM rate again and keeps the best of this and every earlier measurement (what
     * {@link #singleThreadGemmRate} returns from now on); for a run whose own achieved rate has passed the peak,
     * which means the first measurement was taken on a busy machine.
     */
    public static synchronized double remeasureSingleThreadGemmRate(ScalarType type) {
        Natives.load();
        int before = torch.get_num_threads();
        torch.set_num_threads(1);
        double best = SINGLE_THREAD.getOrDefault(type, 0.0);
        try {
            for (int size : GEMM_SIZES) {
                best = Math.max(best, bestGemmRate(type, size));
            }
            SINGLE_THREAD.put(type, best);
            return best;
        } finally {
            torch.set_num_threads(before);
        }
    }

    /** The fastest of repeated timings of one {@code size x size} GEMM (at least 3, for about 0.3 s). */
    private static double bestGemmRate(ScalarType type, int size) {
        try (PointerScope scope = new PointerScope()) {
            long[] shape = {size, size};
            Tensor a = torch.ones(shape, new TensorOptions(type));
            Tensor b = torch.ones(shape, new TensorOptions(type));
            torch.mm(a, b).close();
            double flops = 2.0 * size * size * size;
            double best = 0;
            int timings = 0;
            long start = System.nanoTime();
            while (timings < 3 || (System.nanoTime() - start < MIN_MEASURE_NANOS && timings < 200)) {
                long t0 = System.nanoTime();
                torch.mm(a, b).close();
                best = Math.max(best, flops / ((System.nanoTime() - t0) / 1e9));
                timings++;
            }
            return best;
        }
    }
}
