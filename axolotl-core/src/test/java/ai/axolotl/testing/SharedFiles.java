package ai.axolotl.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the workspace's {@code shared/} folder (beside the repository) from a test's working directory. */
public final class SharedFiles {
    private SharedFiles() {}

    /** The shared folder, or null when it is not beside this checkout. */
    public static Path root() {
        String prop = System.getProperty("axolotl.shared");
        if (prop != null) {
            return Path.of(prop);
        }
        Path p = Path.of("").toAbsolutePath();
        while (p != null) {
            Path candidate = p.resolveSibling("shared");
            if (Files.isDirectory(candidate.resolve("axolotl-corpus"))) {
                return candidate;
            }
            p = p.getParent();
        }
        return null;
    }
}
