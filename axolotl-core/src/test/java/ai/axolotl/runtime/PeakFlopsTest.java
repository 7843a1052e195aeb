package ai.axolotl.runtime;

import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The peaks MFU divides by: the GPU table, and the CPU's measured GEMM rate. */
class PeakFlopsTest {
    @Test
    void gpuPeaksComeFromTheVendorTable() {
        assertPeak("NVIDIA H100 80GB HBM3", ScalarType.BFloat16, 989.4e12);
        assertPeak("NVIDIA H100 PCIe", ScalarType.BFloat16, 756.0e12);
        assertPeak("NVIDIA H200", ScalarType.Float, 66.9e12);
        assertPeak("NVIDIA A100-SXM4-80GB", ScalarType.Half, 312.0e12);
        assertPeak("NVIDIA A100-SXM4-80GB", ScalarType.Float, 19.5e12);
        assertThat(PeakFlops.forGpu("Tesla T4", ScalarType.Half)).isEmpty();
    }

    private static void assertPeak(String device, ScalarType type, double expected) {
        assertThat(PeakFlops.forGpu(device, type)).as(device + " " + type).get()
                .satisfies(p -> assertThat(p.flopsPerSecond()).isCloseTo(expected, within(1e6)));
    }

    @Test
    void theCpuPeakIsAMeasuredSingleThreadRateTimesThreadsAndLeavesTheThreadCountAlone() {
        Natives.setThreads(2);
        PeakFlops two = PeakFlops.forCpu(ScalarType.Float, 2);
        assertThat(torch.get_num_threads()).as("restored after measuring on one thread").isEqualTo(2);
        double one = PeakFlops.singleThreadGemmRate(ScalarType.Float);
        assertThat(one).as("a CPU core does between 0.1 and 1000 GFLOP/s").isBetween(1e8, 1e12);
        assertThat(two.flopsPerSecond()).isEqualTo(2 * one);
        assertThat(two.source()).contains("Float GEMM on one thread").contains("x 2 intra-op thread(s)");
        assertThat(PeakFlops.remeasureSingleThreadGemmRate(ScalarType.Float)).as("the best timing is kept")
                .isGreaterThanOrEqualTo(one);
    }
}
