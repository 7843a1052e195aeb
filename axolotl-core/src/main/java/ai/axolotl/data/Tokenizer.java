package ai.axolotl.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/** Turns text into token ids. Implementations: the embedded {@link ByteTokenizer} and {@link HfTokenizer}. */
public interface Tokenizer {
    /** Token ids of {@code text}, without special tokens. */
    int[] encode(String text);

    /**
     * Token ids of {@code text} as Hugging Face's {@code tokenizer(text, add_special_tokens=...)} gives them: with
     * {@code addSpecialTokens} the tokenizer's own post-processing (its BOS, when it adds one), never truncated.
     */
    int[] encode(String text, boolean addSpecialTokens);

    /** Text of token ids (special tokens dropped). */
    String decode(int[] ids);

    /**
     * For each token of {@code encode(text)}, the characters it came from as {@code [start, end)} in Unicode code
     * points of {@code text} (Python's string indices), as transformers' {@code return_offsets_mapping} gives them.
     */
    int[][] charSpans(String text);

    /** Text of token ids, special tokens kept unless {@code skipSpecialTokens}. */
    default String decode(int[] ids, boolean skipSpecialTokens) {
        return decode(ids);
    }

    /** Id of the beginning-of-sequence token, or -1 when the tokenizer has none. */
    int bosId();

    /** Id of the end-of-sequence token. */
    int eosId();

    /** Id used to pad rows. */
    int padId();

    /** Number of ids the tokenizer can produce; the model's vocabulary must be at least this large. */
    int vocabSize();

    /** The id of {@code token} when it is one token of the vocabulary (added tokens included), else -1. */
    int idOf(String token);

    /**
     * The named special tokens as strings, as a chat template sees them: {@code bos_token}, {@code eos_token},
     * {@code pad_token}, {@code unk_token} (those the tokenizer has).
     */
    Map<String, String> specialTokens();

    /**
     * The tokenizer's own chat template, found where transformers looks: {@code chat_template.jinja} beside the
     * tokenizer, else {@code tokenizer_config.json}'s {@code chat_template} string, else the {@code default} entry
     * of its named list.
     */
    default Optional<String> chatTemplate() {
        return Optional.empty();
    }

    /** A stable description that changes whenever the tokenization would (part of the dataset cache key). */
    String identity();

    /** Writes the files that let another program load this tokenizer (tokenizer.json and friends). */
    void save(Path dir) throws IOException;
}
