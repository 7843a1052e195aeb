package ai.axolotl.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code type: completion}: raw text from one field (default {@code text}), trained on every token. Text longer
 * than {@code sequence_len} is split into consecutive windows so no text is lost.
 */
public final class CompletionFormat implements PromptFormat {
    private final String field;

    /** @param field the row's text field */
    public CompletionFormat(String field) {
        this.field = field;
    }

    @Override
    public List<Example> tokenize(JsonNode row, String where, Tokenizer tokenizer, int sequenceLen) {
        JsonNode text = row.get(field);
        if (text == null || !text.isTextual()) {
            throw new DataException(where + ": expected a text field '" + field + "' (type: completion)");
        }
        int[] ids = PromptFormat.withSpecials(tokenizer, text.asText());
        List<Example> out = new ArrayList<>();
        for (int start = 0; start < ids.length; start += sequenceLen) {
            int[] chunk = Arrays.copyOfRange(ids, start, Math.min(ids.length, start + sequenceLen));
            out.add(new Example(chunk, chunk.clone()));
        }
        return out;
    }
}
