package ai.axolotl.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Arrays;
import java.util.List;

/**
 * {@code type: alpaca}: {@code instruction}, optional {@code input}, {@code output}, in Axolotl's Alpaca prompt.
 * The prompt carries the tokenizer's own BOS (transformers' {@code add_special_tokens=True}).
 * Loss on the response (and EOS) only, unless {@code train_on_inputs}. Examples longer than {@code sequence_len}
 * are dropped, as Axolotl does.
 */
public final class AlpacaFormat implements PromptFormat {
    static final String WITH_INPUT = "Below is an instruction that describes a task, paired with an input that "
            + "provides further context. Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\n%s\n\n### Input:\n%s\n\n### Response:\n";
    static final String NO_INPUT = "Below is an instruction that describes a task. Write a response that "
            + "appropriately completes the request.\n\n### Instruction:\n%s\n\n### Response:\n";
    private final boolean trainOnInputs;

    /** @param trainOnInputs also train on the prompt tokens */
    public AlpacaFormat(boolean trainOnInputs) {
        this.trainOnInputs = trainOnInputs;
    }

    @Override
    public List<Example> tokenize(JsonNode row, String where, Tokenizer tokenizer, int sequenceLen) {
        String instruction = text(row, "instruction", where, true);
        String input = text(row, "input", where, false);
        String output = text(row, "output", where, true);
        String prompt = input == null || input.isEmpty()
                ? String.format(NO_INPUT, instruction) : String.format(WITH_INPUT, instruction, input);
        int[] promptIds = tokenizer.encode(prompt, true);
        int[] responseIds = tokenizer.encode(output);
        int n = promptIds.length + responseIds.length + 1;
        if (n > sequenceLen) {
            return List.of();
        }
        int[] ids = new int[n];
        System.arraycopy(promptIds, 0, ids, 0, promptIds.length);
        System.arraycopy(responseIds, 0, ids, promptIds.length, responseIds.length);
        ids[n - 1] = tokenizer.eosId();
        int[] labels = ids.clone();
        if (!trainOnInputs) {
            Arrays.fill(labels, 0, promptIds.length, -100);
        }
        return List.of(new Example(ids, labels));
    }

    private static String text(JsonNode row, String name, String where, boolean required) {
        JsonNode v = row.get(name);
        if (v == null || v.isNull()) {
            if (required) {
                throw new DataException(where + ": missing field '" + name + "' (type: alpaca needs instruction, "
                        + "output and optionally input)");
            }
            return null;
        }
        if (!v.isTextual()) {
            throw new DataException(where + ": field '" + name + "' must be a string");
        }
        return v.asText();
    }
}
