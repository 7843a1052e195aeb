package ai.axolotl.runtime;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The FLOP rate that model FLOPs utilization (MFU) divides by, with where it came from.
 *
 * <p>GPUs: the vendor's dense peak from a table (H100 SXM / PCIe, H200, A100; bf16/fp16 tensor cores and fp32
 * without TF32). CPUs have no such table that holds across machines: the rate of a square GEMM on one libtorch
 * thread is measured once per JVM and compute type and multiplied by the rank's threads.
 *
 * @param flopsPerSecond the peak a rank can reach
 * @param source how it was found, for the log
 */
public record PeakFlops(double flopsPerSecond, String source) {
    private static final int GEMM_SIZE = 512;
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
     * This CPU rank's peak: the measured single-thread GEMM rate at the compute type times {@code threads}.
     * Measured once per JVM and type (about 0.3 s, libtorch set to one thread meanwhile).
     */
    public static PeakFlops forCpu(ScalarType compute, int threads) {
        double one = singleThreadGemmRate(compute);
        return new PeakFlops(one * threads, String.format(Locale.ROOT, "measured %dx%d %s GEMM on one thread: %.2f "
                + "GFLOP/s, x %d thread(s)", GEMM_SIZE, GEMM_SIZE, compute, one / 1e9, threads));
    }

    /** FLOP/s of a square GEMM on one libtorch thread (median over repetitions). */
    public static synchronized double singleThreadGemmRate(ScalarType type) {
        Double cached = SINGLE_THREAD.get(type);
        if (cached != null) {
            return cached;
        }
        Natives.load();
        int before = torch.get_num_threads();
        torch.set_num_threads(1);
        try (PointerScope scope = new PointerScope()) {
            long[] shape = {GEMM_SIZE, GEMM_SIZE};
            Tensor a = torch.ones(shape, new TensorOptions(type));
            Tensor b = torch.ones(shape, new TensorOptions(type));
            torch.mm(a, b).close();
            double flops = 2.0 * GEMM_SIZE * GEMM_SIZE * GEMM_SIZE;
            List<Double> rates = new ArrayList<>();
            long start = System.nanoTime();
            while (rates.size() < 3 || (System.nanoTime() - start < MIN_MEASURE_NANOS && rates.size() < 200)) {
                long t0 = System.nanoTime();
                torch.mm(a, b).close();
                rates.add(flops / ((System.nanoTime() - t0) / 1e9));
            }
            Collections.sort(rates);
            double median = rates.get(rates.size() / 2);
            SINGLE_THREAD.put(type, median);
            return median;
        } finally {
            torch.set_num_threads(before);
        }
    }
}
