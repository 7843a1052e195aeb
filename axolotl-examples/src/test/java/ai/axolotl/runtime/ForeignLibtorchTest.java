package ai.axolotl.runtime;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Another libtorch on the machine does not take the place of ours: a system libtorch (Debian's python3-torch,
 * which CI installs) exposed under a pip torch's unversioned names on LD_LIBRARY_PATH, and an empty native cache, and
 * a first run still trains. Before the bundled core libraries were loaded by absolute path, the dynamic linker
 * picked the foreign libtorch_cpu.so for the bindings' libtorch.so and the JVM died with SIGSEGV.
 */
class ForeignLibtorchTest {
    /** The system's libtorch_cpu, if a distribution package installed one. */
    static Optional<Path> systemLibtorch() throws IOException {
        for (String dir : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")) {
            Path d = Path.of(dir);
            if (!Files.isDirectory(d)) {
                continue;
            }
            try (Stream<Path> s = Files.list(d)) {
                Optional<Path> found = s.filter(p -> p.getFileName().toString().matches("libtorch_cpu\\.so\\.[0-9.]+"))
                        .findFirst();
                if (found.isPresent()) {
                    return found;
                }
            }
        }
        return Optional.empty();
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void aFirstRunTrainsWithAnotherLibtorchOnTheLibraryPath(@TempDir Path dir) throws Exception {
        Optional<Path> system = systemLibtorch();
        Assumptions.assumeTrue(system.isPresent(), "no system libtorch installed (CI installs python3-torch)");
        Path lib = system.get().getParent();
        String suffix = system.get().getFileName().toString().substring("libtorch_cpu.so".length());
        Path pip = Files.createDirectories(dir.resolve("pip-torch-lib"));
        for (String name : List.of("libtorch_cpu", "libc10", "libtorch", "libtorch_global_deps")) {
            Path target = lib.resolve(name + ".so" + suffix);
            if (Files.exists(target)) {
                Files.createSymbolicLink(pip.resolve(name + ".so"), target);
            }
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"),
                "-Dorg.bytedeco.javacpp.cachedir=" + dir.resolve("empty-cache"),
                "ai.axolotl.cli.AxolotlCli", "train", "axolotl-examples/configs/llama-tiny.yml", "--max-steps", "1",
                "--sequence_len", "64", "--micro_batch_size", "2",
                "--output-dir", dir.resolve("out").toString(),
                "--dataset-prepared-path", dir.resolve("prep").toString(), "--threads", "1"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve("run.log").toFile());
        pb.environment().put("LD_LIBRARY_PATH", pip.toString());
        Process p = pb.start();
        assertThat(p.waitFor(9, TimeUnit.MINUTES)).as("the run ends").isTrue();
        String log = Files.readString(dir.resolve("run.log"));
        assertThat(p.exitValue()).as(log).isZero();
        assertThat(log).doesNotContain("SIGSEGV").contains("done: 1 steps");
    }
}
