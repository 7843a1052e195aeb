package ai.axolotl.runtime;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * CUDA memory figures come from libtorch's caching allocator and follow the tensors held; the host has none (its
 * memory is RSS). The CUDA case needs a CUDA build and a GPU and skips, saying so, without them.
 */
@Timeout(60)
class DeviceMemoryTest {
    @Test
    void theHostHasNoDeviceMemoryFigures() {
        assertThat(DeviceMemory.of(Device.cpu("test"))).isEmpty();
        assertThat(new DeviceMemory(1, 2, 3, 4).fields()).containsKeys("cuda_allocated_bytes",
                "cuda_reserved_bytes", "cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes");
    }

    @Test
    void aCudaTensorShowsInTheAllocatorsFigures() {
        assumeTrue(Natives.cudaDeviceCount() > 0, "needs a CUDA build of libtorch (mvn -Pgpu) and a GPU");
        Device cuda = new Device("cuda", 0, "test");
        long before = DeviceMemory.of(cuda).orElseThrow().allocatedBytes();
        long bytes = 64L << 20;
        try (Tensor t = torch.empty(new long[] {bytes / 4}, Tensors.options(ScalarType.Float, cuda), null)) {
            DeviceMemory during = DeviceMemory.of(cuda).orElseThrow();
            assertThat(during.allocatedBytes() - before).isGreaterThanOrEqualTo(bytes);
            assertThat(during.reservedBytes()).isGreaterThanOrEqualTo(during.allocatedBytes());
            assertThat(during.peakAllocatedBytes()).isGreaterThanOrEqualTo(during.allocatedBytes());
        }
    }
}
