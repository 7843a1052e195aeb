package ai.axolotl.data;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.data.chat.ChatTemplates;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

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
                return HfTokenizer.load(p, config.model().specialTokens());
            }
            Path base = Path.of(config.model().baseModel());
            if (Files.isRegularFile(base.resolve("tokenizer.json"))) {
                return HfTokenizer.load(base, config.model().specialTokens());
            }
        } catch (IOException e) {
            throw new DataException("cannot load tokenizer: " + e.getMessage(), e);
        }
        if (!config.model().specialTokens().isEmpty()) {
            throw new DataException("special_tokens: the embedded byte tokenizer's special tokens are fixed; give a "
                    + "tokenizer.json (tokenizer_config or base_model) to override them");
        }
        return new ByteTokenizer();
    }

    /**
     * Saves {@code tokenizer} into {@code dir} for other programs, with the run's chat template when the config
     * chose one ({@code chat_template}), as Axolotl saves it.
     */
    public static void save(AxolotlConfig config, Tokenizer tokenizer, Path dir) throws IOException {
        tokenizer.save(dir);
        if (config.data().chat().chatTemplate() != null) {
            Optional<ChatTemplates.Named> run = ChatTemplates.runTemplate(config.data().chat(), tokenizer);
            if (run.isPresent()) {
                ChatTemplates.saveInto(dir, run.get().source());
            }
        }
    }
}
