package ai.axolotl.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;

/**
 * Rows that are already tokenized: {@code input_ids} and optional {@code labels} (default: the ids), used as
 * they are. Rows longer than {@code sequence_len} are dropped.
 */
public final class PretokenizedFormat implements PromptFormat {
    @Override
    public List<Example> tokenize(JsonNode row, String where, Tokenizer tokenizer, int sequenceLen) {
        int[] ids = ints(row, "input_ids", where, true);
        int[] labels = row.has("labels") ? ints(row, "labels", where, false) : ids.clone();
        if (labels.length != ids.length) {
            throw new DataException(where + ": labels has " + labels.length + " entries but input_ids has "
                    + ids.length);
        }
        if (ids.length > sequenceLen) {
            return List.of();
        }
        return List.of(new Example(ids, labels));
    }

    private static int[] ints(JsonNode row, String name, String where, boolean ids) {
        JsonNode arr = row.get(name);
        if (arr == null || !arr.isArray()) {
            throw new DataException(where + ": expected an array '" + name + "' (rows without a dataset type must be "
                    + "pre-tokenized; set type: completion or alpaca for text)");
        }
        int[] out = new int[arr.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = arr.get(i);
            if (!v.canConvertToInt()) {
                throw new DataException(where + ": " + name + "[" + i + "] is not an integer");
            }
            out[i] = v.asInt();
            boolean ok = ids ? out[i] >= 0 : out[i] == -100 || out[i] >= 0;
            if (!ok) {
                throw new DataException(where + ": " + name + "[" + i + "] = " + out[i] + " is negative"
                        + (ids ? "" : " (only -100 may be)"));
            }
        }
        return out;
    }
}
