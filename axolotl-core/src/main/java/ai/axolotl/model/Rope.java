package ai.axolotl.model;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One rotary table's frequencies: the base {@code theta} and Hugging Face's {@code rope_scaling} (v4) or
 * {@code rope_parameters} (transformers v5), of type {@code default}, {@code linear} or {@code llama3}
 * ({@code modeling_rope_utils.py}). Other types ({@code dynamic}, {@code yarn}, {@code longrope}, ...) are refused
 * when read.
 *
 * @param theta the base
 * @param type {@code default}, {@code linear} or {@code llama3}
 * @param factor the scaling factor (1 for {@code default})
 * @param lowFreqFactor llama3's {@code low_freq_factor}
 * @param highFreqFactor llama3's {@code high_freq_factor}
 * @param originalMaxPositionEmbeddings llama3's {@code original_max_position_embeddings}
 */
public record Rope(double theta, String type, double factor, double lowFreqFactor, double highFreqFactor,
                   int originalMaxPositionEmbeddings) {
    /** Plain RoPE with base {@code theta}. */
    public static Rope plain(double theta) {
        return new Rope(theta, "default", 1, 0, 0, 0);
    }

    /**
     * Reads a {@code rope_scaling} / {@code rope_parameters} object (null: plain); {@code rope_theta} inside it
     * (v5) wins over {@code theta}.
     *
     * @param key the key it was read from, for messages
     */
    static Rope parse(ConfigJson json, String key, Map<String, Object> scaling, double theta) {
        if (scaling == null) {
            return plain(theta);
        }
        ConfigJson s = new ConfigJson(scaling, json.file(), key + ".");
        String type = s.string("rope_type", null);
        String old = s.string("type", null);
        if (type == null) {
            type = old == null ? "default" : old;
        }
        double base = s.number("rope_theta", theta);
        Rope rope = switch (type) {
            case "default" -> plain(base);
            case "linear" -> new Rope(base, "linear", positive(s, "factor"), 0, 0, 0);
            case "llama3" -> new Rope(base, "llama3", positive(s, "factor"), positive(s, "low_freq_factor"),
                    positive(s, "high_freq_factor"), (int) positive(s, "original_max_position_embeddings"));
            default -> throw new IllegalArgumentException(json.file() + ": " + key + ".rope_type = '" + type
                    + "' is not supported by axolotl-java (built: default, linear, llama3)");
        };
        s.requireValue("attention_factor", v -> v instanceof Number n && n.doubleValue() == 1.0,
                "a rope attention_factor other than 1");
        s.finish("rope " + type);
        return rope;
    }

    private static double positive(ConfigJson s, String key) {
        double v = s.number(key, Double.NaN);
        if (!(v > 0)) {
            throw s.error(key, s.value(key), "a positive number for this rope_type");
        }
        return v;
    }

    /**
     * The inverse frequencies for a head of size {@code headDim}, computed in float32 as transformers does:
     * {@code 1 / theta^(2i/d)}, divided by {@code factor} for {@code linear}, and for {@code llama3} divided by the
     * factor above the low-frequency wavelength, unchanged below the high-frequency one, and blended between.
     */
    public float[] inverseFrequencies(int headDim) {
        float[] inv = new float[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            // torch: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=int64).float() / dim)), all in float32
            float exponent = (float) (2 * i) / (float) headDim;
            float pow = (float) Math.pow((float) theta, exponent);
            inv[i] = 1.0f / pow;
        }
        switch (type) {
            case "linear" -> {
                for (int i = 0; i < inv.length; i++) {
                    inv[i] = (float) (inv[i] / factor);
                }
            }
            case "llama3" -> {
                // float32 throughout, in transformers' order of operations
                float f = (float) factor;
                float low = (float) lowFreqFactor;
                float high = (float) highFreqFactor;
                float orig = originalMaxPositionEmbeddings;
                float lowWavelen = orig / low;
                float highWavelen = orig / high;
                for (int i = 0; i < inv.length; i++) {
                    float wavelen = (float) (2 * Math.PI) / inv[i];
                    float scaled = wavelen > lowWavelen ? inv[i] / f : inv[i];
                    if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
                        float smooth = (orig / wavelen - low) / (high - low);
                        scaled = (1 - smooth) * scaled / f + smooth * scaled;
                    }
                    inv[i] = scaled;
                }
            }
            default -> { }
        }
        return inv;
    }

    /** The {@code rope_scaling} object to write back (null for plain RoPE). */
    Map<String, Object> scalingJson() {
        if (type.equals("default")) {
            return null;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("rope_type", type);
        m.put("factor", factor);
        if (type.equals("llama3")) {
            m.put("low_freq_factor", lowFreqFactor);
            m.put("high_freq_factor", highFreqFactor);
            m.put("original_max_position_embeddings", originalMaxPositionEmbeddings);
        }
        return m;
    }
}
