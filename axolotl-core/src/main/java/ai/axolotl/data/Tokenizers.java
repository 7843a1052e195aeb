package ai.axolotl.data;

import ai.axolotl.config.AxolotlConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Chooses the tokenizer of a run: {@code tokenizer_config}, else base_model's tokenizer.json, else bytes. */
public final class Tokenizers {
    private Tokenizers() {}

    /** The tokenizer for a config. */
    public static Tokenizer forConfig(AxolotlConfig config) {
        String explicit = config.model().tokenizerConfig();
        try {
            if (explicit != null) {
                Path p = Path.of(explicit);
                if (!Files.exists(p)) {
                    throw new DataException("tokenizer_config: '" + explicit + "' does not exist (a local "
                            + "tokenizer.json or its directory is expected)");
                }
                return HfTokenizer.load(p);
            }
            Path base = Path.of(config.model().baseModel());
            if (Files.isRegularFile(base.resolve("tokenizer.json"))) {
                return HfTokenizer.load(base);
            }
        } catch (IOException e) {
            throw new DataException("cannot load tokenizer: " + e.getMessage(), e);
        }
        return new ByteTokenizer();
    }
}
