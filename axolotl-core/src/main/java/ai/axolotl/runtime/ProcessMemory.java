package ai.axolotl.runtime;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Resident memory of this process from {@code /proc/self/status} (Linux); -1 elsewhere. */
public final class ProcessMemory {
    private ProcessMemory() {}

    /** Current resident set size in bytes. */
    public static long rssBytes() {
        return field("VmRSS:");
    }

    /** Peak resident set size in bytes. */
    public static long peakRssBytes() {
        return field("VmHWM:");
    }

    /**
     * Resets the kernel's peak resident set size ({@code VmHWM}) to the current one, so that the next
     * {@link #peakRssBytes()} is the peak of what follows (Linux: {@code /proc/self/clear_refs}).
     *
     * @return false where the kernel does not allow it
     */
    public static boolean resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * The C allocator this process's native memory (libtorch's tensors included) comes from, read from the
     * libraries mapped into it ({@code /proc/self/maps}): {@code "jemalloc <path>"} or {@code "tcmalloc <path>"}
     * when one was preloaded, else {@code "glibc"}; {@code "unknown"} where the map cannot be read.
     */
    public static String nativeAllocator() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.map(l -> l.substring(l.lastIndexOf(' ') + 1))
                    .filter(f -> f.contains("/libjemalloc") || f.contains("/libtcmalloc"))
                    .findFirst()
                    .map(f -> (f.contains("jemalloc") ? "jemalloc " : "tcmalloc ") + f)
                    .orElse("glibc");
        } catch (IOException | UncheckedIOException e) {
            return "unknown";
        }
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(name)) {
                    String[] parts = line.substring(name.length()).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
