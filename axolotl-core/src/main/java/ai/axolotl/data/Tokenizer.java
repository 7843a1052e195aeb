package ai.axolotl.data;

import java.io.IOException;
import java.nio.file.Path;

/** Turns text into token ids. Implementations: the embedded {@link ByteTokenizer} and {@link HfTokenizer}. */
public interface Tokenizer {
    /** Token ids of {@code text}, without special tokens. */
    int[] encode(String text);

    /** Text of token ids (special tokens dropped). */
    String decode(int[] ids);

    /** Id of the beginning-of-sequence token, or -1 when the tokenizer has none. */
    int bosId();

    /** Id of the end-of-sequence token. */
    int eosId();

    /** Id used to pad rows. */
    int padId();

    /** Number of ids the tokenizer can produce; the model's vocabulary must be at least this large. */
    int vocabSize();

    /** A stable description that changes whenever the tokenization would (part of the dataset cache key). */
    String identity();

    /** Writes the files that let another program load this tokenizer (tokenizer.json and friends). */
    void save(Path dir) throws IOException;
}
