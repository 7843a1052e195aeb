package ai.axolotl.train.optim;

import ai.axolotl.model.quant.DynamicMap;

/**
 * How a low-bit AdamW stores its two moments: blocks of 256 values, each block's absolute maximum in fp32 and each
 * value as the code of its nearest map entry of {@code value / absmax}; the first moment over a signed map, the
 * second over an unsigned one.
 *
 * <ul>
 *   <li>{@link #BNB_8BIT}: bitsandbytes' blockwise 8-bit AdamW ({@code adamw_bnb_8bit}, {@code adamw_8bit},
 *       {@code paged_adamw_8bit}): the 8-bit dynamic maps, a value on a midpoint takes the lower code, tensors of
 *       fewer than 4,096 elements keep fp32 states.</li>
 *   <li>{@link #TORCHAO_8BIT}: torchao's AdamW8bit ({@code adamw_torch_8bit}): the same maps, ties round up, fp32
 *       states unless the tensor has at least 4,096 elements and a multiple of 256.</li>
 *   <li>{@link #TORCHAO_4BIT}: torchao's AdamW4bit as transformers configures it ({@code adamw_torch_4bit}, block
 *       256): the signed 4-bit dynamic map, the unsigned map {@code 1/16 .. 1} (no zero), two codes a byte with
 *       the first in the high nibble, ties up, torchao's fp32 rule.</li>
 * </ul>
 * The rule is applied to the whole (global) tensor, never to a shard, so a state's precision does not depend on
 * the world size.
 */
public enum LowBitFormat {
    /** bitsandbytes 8-bit. */
    BNB_8BIT(8, false, DynamicMap.create(true), DynamicMap.create(false)),
    /** torchao 8-bit. */
    TORCHAO_8BIT(8, true, DynamicMap.create(true), DynamicMap.create(false)),
    /** torchao 4-bit. */
    TORCHAO_4BIT(4, true, DynamicMap.create(true, 3, 4), unsigned4());

    /** Values per block. */
    public static final int BLOCK = 256;
    /** Tensors with fewer elements keep fp32 states. */
    public static final long MIN_QUANTIZED = 4096;

    private final int bits;
    private final boolean tiesUp;
    private final float[] signedMap;
    private final float[] unsignedMap;

    LowBitFormat(int bits, boolean tiesUp, float[] signedMap, float[] unsignedMap) {
        this.bits = bits;
        this.tiesUp = tiesUp;
        this.signedMap = signedMap;
        this.unsignedMap = unsignedMap;
    }

    private static float[] unsigned4() {
        float[] m = new float[16];
        for (int i = 0; i < 16; i++) {
            m[i] = (i + 1) / 16f;
        }
        return m;
    }

    /**
     * The format of a canonical optimizer name ({@code adamw_8bit}, {@code adamw_torch_8bit},
     * {@code adamw_torch_4bit}), or null for a full-precision optimizer.
     */
    public static LowBitFormat of(String optimizer) {
        return switch (optimizer) {
            case "adamw_8bit" -> BNB_8BIT;
            case "adamw_torch_8bit" -> TORCHAO_8BIT;
            case "adamw_torch_4bit" -> TORCHAO_4BIT;
            default -> null;
        };
    }

    /** Bits per code. */
    public int bits() {
        return bits;
    }

    /** True when a value on a midpoint between two map entries takes the upper one. */
    public boolean tiesUp() {
        return tiesUp;
    }

    /** The map of a moment: signed for the first, unsigned for the second. */
    public float[] map(boolean signed) {
        return (signed ? signedMap : unsignedMap).clone();
    }

    /** True when a tensor of {@code numel} elements (the whole parameter) keeps quantized states. */
    public boolean quantizes(long numel) {
        if (numel < MIN_QUANTIZED) {
            return false;
        }
        return this == BNB_8BIT || numel % BLOCK == 0;
    }
}
