package ai.axolotl.data.chat;

import ai.axolotl.config.ChatSettings;
import ai.axolotl.data.DataException;
import ai.axolotl.data.Tokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Chooses a chat template with Axolotl's precedence. The top-level {@code chat_template} replaces the tokenizer's
 * template for the whole run (and is saved into the exported tokenizer); a dataset left at
 * {@code tokenizer_default} uses that; a dataset's own {@code chat_template} wins. Choices:
 * {@code tokenizer_default} (the tokenizer's template; an error when it has none),
 * {@code tokenizer_default_fallback_<name>} (the tokenizer's, else the bundled one), {@code jinja} (with
 * {@code chat_template_jinja}: the text, or a path to a file), or a bundled name ({@link ChatSettings#BUNDLED}).
 */
public final class ChatTemplates {
    private static final String FALLBACK = "tokenizer_default_fallback_";

    private ChatTemplates() {}

    /** A named template (text and where it came from, for error messages). */
    public record Named(String name, String source) {}

    /** The run's template: the top-level choice, else the tokenizer's own (empty when it has none). */
    public static Optional<Named> runTemplate(ChatSettings chat, Tokenizer tokenizer) {
        Optional<Named> own = tokenizer.chatTemplate().map(t -> new Named("the tokenizer's chat template", t));
        if (chat.chatTemplate() == null) {
            return own;
        }
        return Optional.of(resolve("chat_template", chat.chatTemplate(), chat.chatTemplateJinja(), own));
    }

    /** A dataset's template: its own choice over the run's. */
    public static Named datasetTemplate(String key, String choice, String jinja, Optional<Named> run) {
        return resolve(key, choice == null ? "tokenizer_default" : choice, jinja, run);
    }

    private static Named resolve(String key, String choice, String jinja, Optional<Named> tokenizerTemplate) {
        if (choice.equals("tokenizer_default")) {
            return tokenizerTemplate.orElseThrow(() -> new DataException(key + ": tokenizer_default, but the "
                    + "tokenizer has no chat template (no chat_template.jinja, no chat_template in "
                    + "tokenizer_config.json); choose one with chat_template"));
        }
        if (choice.startsWith(FALLBACK)) {
            return tokenizerTemplate.orElseGet(() -> bundled(choice.substring(FALLBACK.length())));
        }
        if (choice.equals("jinja")) {
            if (jinja == null) {
                throw new DataException(key + ": jinja needs chat_template_jinja");
            }
            return inline(jinja);
        }
        return bundled(choice);
    }

    /** {@code chat_template_jinja}: a path to a template file when one exists there, else the template text. */
    static Named inline(String jinja) {
        if (!jinja.contains("{") && !jinja.contains("\n")) {
            Path p = Path.of(jinja);
            if (!Files.isRegularFile(p)) {
                throw new DataException("chat_template_jinja: '" + jinja + "' is neither a template nor a file");
            }
            try {
                return new Named(p.toString(), Files.readString(p));
            } catch (IOException e) {
                throw new DataException("chat_template_jinja: cannot read " + p + ": " + e.getMessage(), e);
            }
        }
        return new Named("chat_template_jinja", jinja);
    }

    /** A template bundled with axolotl-java under its Axolotl name. */
    public static Named bundled(String name) {
        if (!ChatSettings.BUNDLED.contains(name)) {
            throw new DataException("chat_template: '" + name + "' is not bundled (bundled: "
                    + String.join(", ", ChatSettings.BUNDLED) + ")");
        }
        try (InputStream in = ChatTemplates.class.getResourceAsStream(name + ".jinja")) {
            if (in == null) {
                throw new IllegalStateException("bundled template " + name + ".jinja is missing from the jar");
            }
            return new Named("bundled " + name, new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Writes {@code template} into {@code dir/tokenizer_config.json} as {@code chat_template} (as Axolotl saves the
     * chosen template), removing a {@code chat_template.jinja} that would take precedence over it.
     */
    public static void saveInto(Path dir, String template) throws IOException {
        ObjectMapper json = new ObjectMapper();
        Path cfg = dir.resolve("tokenizer_config.json");
        ObjectNode node = Files.isRegularFile(cfg) && json.readTree(cfg.toFile()) instanceof ObjectNode o ? o
                : json.createObjectNode();
        node.put("chat_template", template);
        Files.writeString(cfg, json.writerWithDefaultPrettyPrinter().writeValueAsString(node));
        Files.deleteIfExists(dir.resolve("chat_template.jinja"));
    }
}
