package ai.axolotl.testing;

import ai.axolotl.data.HfTokenizer;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The real tokenizers of {@code ../shared/tokenizers}, loaded once per test class and closed with it. A test
 * that needs them is skipped with one line when the folder is not beside this checkout.
 */
public final class SharedTokenizers implements AutoCloseable {
    private final Path dir;
    private final Map<String, HfTokenizer> loaded = new HashMap<>();

    private SharedTokenizers(Path dir) {
        this.dir = dir;
    }

    /** The shared tokenizers folder, or skips the calling test. */
    public static SharedTokenizers openOrSkip() {
        Path shared = SharedFiles.root();
        Assumptions.assumeTrue(shared != null && Files.isDirectory(shared.resolve("tokenizers")),
                "shared/tokenizers is not beside this checkout");
        return new SharedTokenizers(shared.resolve("tokenizers"));
    }

    /** The folder ({@code llama3-instruct/}, {@code qwen3/}, ..., {@code golden/}). */
    public Path dir() {
        return dir;
    }

    /** The tokenizer in {@code dir()/name}, loaded on first use. */
    public HfTokenizer get(String name) {
        return loaded.computeIfAbsent(name, n -> {
            try {
                return HfTokenizer.load(dir.resolve(n));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    @Override
    public void close() {
        loaded.values().forEach(HfTokenizer::close);
        loaded.clear();
    }
}
