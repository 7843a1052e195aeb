package ai.axolotl.runtime;

import org.bytedeco.pytorch.Stat;
import org.bytedeco.pytorch.cuda.DeviceStats;
import org.bytedeco.pytorch.global.torch_cuda;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What libtorch's CUDA caching allocator holds on one device, read from its own statistics (as
 * {@code torch.cuda.memory_allocated}, {@code memory_reserved} and their {@code max_} forms report): bytes in live
 * tensors, bytes the allocator keeps from the driver, and the peaks of both since the process started.
 *
 * @param allocatedBytes bytes in live tensors now
 * @param reservedBytes bytes the caching allocator holds now (live tensors and its cache)
 * @param peakAllocatedBytes most bytes in live tensors at once
 * @param peakReservedBytes most bytes the allocator held at once
 */
public record DeviceMemory(long allocatedBytes, long reservedBytes, long peakAllocatedBytes,
                           long peakReservedBytes) {
    /** The figures for {@code device} when it is a CUDA device; empty for any other (host memory: RSS). */
    public static Optional<DeviceMemory> of(Device device) {
        if (!device.isCuda()) {
            return Optional.empty();
        }
        try (DeviceStats s = torch_cuda.getAllocator().getDeviceStats((byte) device.index());
             Stat allocated = s.allocated_bytes(); Stat reserved = s.reserved_bytes()) {
            // each is the allocator's StatArray; its first element is the aggregate over pools
            return Optional.of(new DeviceMemory(allocated.current(), reserved.current(), allocated.peak(),
                    reserved.peak()));
        }
    }

    /** The fields {@code metrics.jsonl} carries for them. */
    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cuda_allocated_bytes", allocatedBytes);
        m.put("cuda_reserved_bytes", reservedBytes);
        m.put("cuda_peak_allocated_bytes", peakAllocatedBytes);
        m.put("cuda_peak_reserved_bytes", peakReservedBytes);
        return m;
    }

    /** One line for the log: {@code CUDA allocated 1,234 MiB (peak 2,345), reserved ...}. */
    public String describe() {
        long mib = 1024 * 1024;
        return String.format("CUDA allocated %,d MiB (peak %,d), reserved %,d MiB (peak %,d)",
                allocatedBytes / mib, peakAllocatedBytes / mib, reservedBytes / mib, peakReservedBytes / mib);
    }
}
