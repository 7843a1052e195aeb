package ai.axolotl.distributed;

import ai.axolotl.distributed.launch.RankAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How {@code --allocator} turns into the rank JVMs' environment, against a search path the test controls. */
class RankAllocatorTest {
    private static List<Path> withJemalloc(Path dir) throws Exception {
        Path lib = dir.resolve("lib");
        Files.createDirectories(lib);
        Files.writeString(lib.resolve("libjemalloc.so.2"), "");
        return List.of(dir.resolve("empty"), lib);
    }

    @Test
    void autoPreloadsJemallocWhereItIsInstalled(@TempDir Path dir) throws Exception {
        List<Path> path = withJemalloc(dir);
        RankAllocator a = RankAllocator.resolve(null, Map.of(), path);
        assertThat(a.environment()).containsExactly(Map.entry("LD_PRELOAD",
                dir.resolve("lib/libjemalloc.so.2").toString()));
        assertThat(a.describe()).startsWith("jemalloc ").contains("--allocator glibc");
        assertThat(RankAllocator.resolve("AUTO", Map.of(), path).environment()).containsKey("LD_PRELOAD");
    }

    @Test
    void autoWithoutJemallocKeepsGlibcAndSaysWhatToInstall(@TempDir Path dir) {
        RankAllocator a = RankAllocator.resolve("auto", Map.of(), List.of(dir));
        assertThat(a.environment()).isEmpty();
        assertThat(a.describe()).startsWith("glibc malloc: libjemalloc.so.2 not found in [" + dir)
                .contains("libjemalloc2");
    }

    @Test
    void autoKeepsAPreloadTheUserSet(@TempDir Path dir) throws Exception {
        RankAllocator a = RankAllocator.resolve("auto", Map.of("LD_PRELOAD", "/opt/libtcmalloc.so"),
                withJemalloc(dir));
        assertThat(a.environment()).isEmpty();
        assertThat(a.describe()).contains("LD_PRELOAD=/opt/libtcmalloc.so");
    }

    @Test
    void jemallocIsRequiredWhenAskedFor(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> RankAllocator.resolve("jemalloc", Map.of(), List.of(dir)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("--allocator jemalloc: libjemalloc.so.2 not found in [" + dir);
        RankAllocator a = RankAllocator.resolve("jemalloc", Map.of("LD_PRELOAD", "/opt/other.so"), withJemalloc(dir));
        assertThat(a.environment().get("LD_PRELOAD")).isEqualTo(dir.resolve("lib/libjemalloc.so.2") + " /opt/other.so");
    }

    @Test
    void glibcAddsNothingAndUnknownChoicesAreRefused(@TempDir Path dir) throws Exception {
        assertThat(RankAllocator.resolve("glibc", Map.of(), withJemalloc(dir)).environment()).isEmpty();
        assertThatThrownBy(() -> RankAllocator.resolve("mimalloc", Map.of(), List.of(dir)))
                .hasMessage("--allocator mimalloc: expected auto, jemalloc or glibc");
    }
}
