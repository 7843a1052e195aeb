package ai.axolotl.model.quant;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * bitsandbytes' 8-bit dynamic quantization map ({@code create_dynamic_map(signed, max_exponent_bits=7,
 * total_bits=8)}): for exponent i = 0..6 the midpoints of {@code linspace(0.1, 1, k + 1)} (float32, torch's
 * symmetric linspace) scaled by {@code 10^(i-6)}, k = 2^i with both signs (signed) or 2^(i+1) positive (unsigned),
 * plus 0 and 1, sorted: 256 float32 values. Used for the absmax of NF4's double quantization and for 8-bit
 * optimizer states.
 */
public final class DynamicMap {
    private DynamicMap() {}

    /** The 256 values of the 8-bit map, ascending. */
    public static float[] create(boolean signed) {
        return create(signed, 7, 8);
    }

    /**
     * {@code create_dynamic_map(signed, max_exponent_bits, total_bits)}: {@code 2^total_bits} values, ascending
     * (the 4-bit signed map of torchao's AdamW4bit is {@code create(true, 3, 4)}).
     */
    public static float[] create(boolean signed, int maxExponentBits, int totalBits) {
        int nonSign = totalBits - 1;
        List<Float> data = new ArrayList<>();
        for (int i = 0; i < maxExponentBits; i++) {
            int items = signed ? (1 << (i + nonSign - maxExponentBits)) + 1
                    : (1 << (i + nonSign - maxExponentBits + 1)) + 1;
            float[] b = linspace(0.1f, 1f, items);
            float scale = (float) Math.pow(10, i - (maxExponentBits - 1));
            for (int j = 0; j + 1 < b.length; j++) {
                float mean = (b[j] + b[j + 1]) / 2.0f;
                data.add(scale * mean);
                if (signed) {
                    data.add(-scale * mean);
                }
            }
        }
        data.add(0f);
        data.add(1.0f);
        int size = 1 << totalBits;
        while (data.size() < size) {
            data.add(0f);
        }
        float[] out = new float[size];
        for (int i = 0; i < size; i++) {
            out[i] = data.get(i);
        }
        Arrays.sort(out);
        return out;
    }

    /** torch.linspace in float32: the first half from the start, the second half from the end. */
    static float[] linspace(float start, float end, int steps) {
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (steps - 1);
        int half = steps / 2;
        for (int i = 0; i < steps; i++) {
            out[i] = i < half ? start + step * i : end - step * (steps - i - 1);
        }
        return out;
    }

    /** The 255 decision points between consecutive values (their float32 midpoints), for nearest-value search. */
    public static float[] midpoints(float[] values) {
        float[] m = new float[values.length - 1];
        for (int i = 0; i < m.length; i++) {
            m[i] = (values[i] + values[i + 1]) / 2f;
        }
        return m;
    }
}
