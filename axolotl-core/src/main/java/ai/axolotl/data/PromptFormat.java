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

    /** Prepends the tokenizer's BOS (when it has one) and appends EOS. */
    static int[] withSpecials(Tokenizer tok, int[] body) {
        int bos = tok.bosId();
        int n = body.length + 1 + (bos >= 0 ? 1 : 0);
        int[] out = new int[n];
        int i = 0;
        if (bos >= 0) {
            out[i++] = bos;
        }
        System.arraycopy(body, 0, out, i, body.length);
        out[n - 1] = tok.eosId();
        return out;
    }
}
