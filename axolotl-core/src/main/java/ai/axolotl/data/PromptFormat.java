package ai.axolotl.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;

/** Turns one dataset row into tokenized examples; one implementation per Axolotl dataset {@code type}. */
public interface PromptFormat {
    /**
     * @param row the JSON row
     * @param where the row's location for error messages ({@code data.jsonl:12})
     * @param tokenizer the tokenizer
     * @param sequenceLen maximum tokens per example
     * @return zero or more examples
     */
    List<Example> tokenize(JsonNode row, String where, Tokenizer tokenizer, int sequenceLen);

    /** The format for a dataset {@code type} (null: pre-tokenized rows). */
    static PromptFormat forType(String type, String field, boolean trainOnInputs) {
        if (type == null || type.equals("pretokenized")) {
            return new PretokenizedFormat();
        }
        return switch (type) {
            case "completion" -> new CompletionFormat(field == null ? "text" : field);
            case "alpaca" -> new AlpacaFormat(trainOnInputs);
            default -> throw new IllegalArgumentException("unsupported dataset type '" + type + "'");
        };
    }

    /**
     * {@code text} as transformers tokenizes it with special tokens (the tokenizer's own BOS policy), then EOS
     * appended unless already last, as Axolotl's completion and instruction formats do.
     */
    static int[] withSpecials(Tokenizer tok, String text) {
        int[] ids = tok.encode(text, true);
        if (ids.length > 0 && ids[ids.length - 1] == tok.eosId()) {
            return ids;
        }
        int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = tok.eosId();
        return out;
    }
}
