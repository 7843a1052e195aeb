package ai.axolotl.model;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * A strict reader of one Hugging Face {@code config.json} (or its nested {@code text_config}): every key a family
 * reads is marked, every key known to have no effect on training is marked and carried to the export, and
 * {@link #finish()} refuses whatever is left, naming the file and the key. Errors are one line naming the file,
 * the key and its value.
 */
public final class ConfigJson {
    /**
     * Keys every Hugging Face config may carry that change nothing in training: ids and bookkeeping, generation
     * settings, and {@code PretrainedConfig}'s own fields. They are carried into the exported config as read.
     */
    private static final Set<String> NO_EFFECT = Set.of(
            "architectures", "transformers_version", "_name_or_path", "use_cache", "bos_token_id", "eos_token_id",
            "pad_token_id", "sep_token_id", "decoder_start_token_id", "return_dict", "output_hidden_states",
            "output_attentions", "torchscript", "id2label", "label2id", "problem_type", "tokenizer_class", "prefix",
            "task_specific_params", "finetuning_task", "chunk_size_feed_forward", "is_decoder",
            "is_encoder_decoder", "add_cross_attention", "tie_encoder_decoder", "cross_attention_hidden_size",
            "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
            "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
            "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
            "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
            "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
            "suppress_tokens", "begin_suppress_tokens", "pruned_heads", "tf_legacy_loss", "use_bfloat16",
            "cache_implementation", "_attn_implementation_autoset", "_attn_implementation");

    private final Map<String, Object> raw;
    private final Path file;
    private final String where;
    private final Set<String> read = new LinkedHashSet<>();
    private final Map<String, Object> carried = new LinkedHashMap<>();

    /**
     * @param raw the parsed JSON object
     * @param file the file it came from, for messages
     * @param where the key path of this object inside the file ("" at top level, "text_config." when nested)
     */
    public ConfigJson(Map<String, Object> raw, Path file, String where) {
        this.raw = raw;
        this.file = file;
        this.where = where;
    }

    /** The file, for messages. */
    public Path file() {
        return file;
    }

    /** True when the key is present (even with a null value). */
    public boolean has(String key) {
        return raw.containsKey(key);
    }

    /** The raw value, marked as read (null when absent or null). */
    public Object value(String key) {
        read.add(key);
        return raw.get(key);
    }

    /** An integer key; {@code fallback} when absent or null. */
    public int integer(String key, int fallback) {
        Object v = value(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
            return n.intValue();
        }
        throw error(key, v, "an integer");
    }

    /** An integer key that may be null; {@code null} when absent or null. */
    public Integer optionalInteger(String key) {
        return value(key) == null ? null : integer(key, 0);
    }

    /** A number; {@code fallback} when absent or null. */
    public double number(String key, double fallback) {
        Object v = value(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw error(key, v, "a number");
    }

    /** A boolean; {@code fallback} when absent or null. */
    public boolean bool(String key, boolean fallback) {
        Object v = value(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw error(key, v, "true or false");
    }

    /** A string; {@code fallback} when absent or null. */
    public String string(String key, String fallback) {
        Object v = value(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof String s) {
            return s;
        }
        throw error(key, v, "a string");
    }

    /** A nested object, or null when absent or null. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> object(String key) {
        Object v = value(key);
        if (v == null) {
            return null;
        }
        if (v instanceof Map<?, ?> m) {
            return (Map<String, Object>) m;
        }
        throw error(key, v, "an object");
    }

    /** A list of strings, or null when absent or null. */
    public List<String> strings(String key) {
        Object v = value(key);
        if (v == null) {
            return null;
        }
        List<String> out = new ArrayList<>();
        if (v instanceof List<?> l) {
            for (Object o : l) {
                if (!(o instanceof String s)) {
                    throw error(key, v, "a list of strings");
                }
                out.add(s);
            }
            return out;
        }
        throw error(key, v, "a list of strings");
    }

    /**
     * Marks keys that have no effect on training in this family; they are carried into the export as read.
     */
    public void noEffect(String... keys) {
        for (String k : keys) {
            if (raw.containsKey(k)) {
                read.add(k);
                carried.put(k, raw.get(k));
            }
        }
    }

    /**
     * A key whose only value that is built is one of the {@code accepted} values (null counts as absent);
     * anything else is refused naming the feature.
     */
    public void requireValue(String key, Predicate<Object> accepted, String feature) {
        Object v = value(key);
        if (v != null && !accepted.test(v)) {
            throw new IllegalArgumentException(file + ": " + where + key + " = " + render(v) + ": " + feature
                    + " is not supported by axolotl-java");
        }
    }

    /** An error naming the file, the key, its value and what was expected. */
    public IllegalArgumentException error(String key, Object value, String expected) {
        return new IllegalArgumentException(file + ": " + where + key + " = " + render(value) + "; expected "
                + expected);
    }

    /** An error about the file as a whole (shapes that do not fit together), naming it. */
    public IllegalArgumentException invalid(String message) {
        return new IllegalArgumentException(file + ": " + message);
    }

    /**
     * Refuses every key nobody read, naming the first few with their values; returns the no-effect keys to carry
     * into the export (generic ones included), in file order.
     */
    public Map<String, Object> finish(String modelType) {
        List<String> unknown = new ArrayList<>();
        for (Map.Entry<String, Object> e : raw.entrySet()) {
            String k = e.getKey();
            if (read.contains(k)) {
                continue;
            }
            if (NO_EFFECT.contains(k)) {
                carried.put(k, e.getValue());
                continue;
            }
            unknown.add(where + k + " = " + render(e.getValue()));
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(file + ": " + (unknown.size() == 1 ? "key " : "keys ")
                    + String.join(", ", unknown.subList(0, Math.min(unknown.size(), 5)))
                    + (unknown.size() > 5 ? " (and " + (unknown.size() - 5) + " more)" : "")
                    + " not supported for model_type '" + modelType + "' (axolotl-java refuses config.json keys it "
                    + "does not act on rather than train a different model)");
        }
        Map<String, Object> ordered = new LinkedHashMap<>();
        for (String k : raw.keySet()) {
            if (carried.containsKey(k)) {
                ordered.put(k, carried.get(k));
            }
        }
        return ordered;
    }

    private static String render(Object v) {
        String s = v instanceof String ? "'" + v + "'" : String.valueOf(v);
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }
}
