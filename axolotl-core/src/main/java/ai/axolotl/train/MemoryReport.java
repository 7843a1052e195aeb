package ai.axolotl.train;

import ai.axolotl.runtime.ProcessMemory;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Per-rank memory figures of a training run, for {@code axolotl bench --memory}: when the environment variable
 * {@value #ENV} names a directory, every rank turns on its strategy's memory probe and, after its last training
 * step (before the final evaluation and the export), writes {@code rank-<rank>.json} there with the process's
 * peak resident set ({@code peak_rss_bytes}, VmHWM), the C allocator it ran with ({@code allocator}, from its
 * mapped libraries) and the probe's peaks.
 */
public final class MemoryReport {
    /** The environment variable naming the report directory. */
    public static final String ENV = "AXOLOTL_MEMORY_REPORT";

    private MemoryReport() {}

    /** True when this process was asked for a report. */
    public static boolean requested() {
        String dir = System.getenv(ENV);
        return dir != null && !dir.isBlank();
    }

    static void write(ShardingStrategy strategy, int steps, Map<String, Object> extra) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("rank", strategy.rank());
        out.put("strategy", strategy.name());
        out.put("steps", steps);
        out.put("peak_rss_bytes", ProcessMemory.peakRssBytes());
        out.put("allocator", ProcessMemory.nativeAllocator());
        out.putAll(strategy.memoryPeaks());
        out.putAll(extra);
        Path file = Path.of(System.getenv(ENV)).resolve("rank-" + strategy.rank() + ".json");
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, new ObjectMapper().writeValueAsString(out) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the memory report " + file, e);
        }
    }
}
