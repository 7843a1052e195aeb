package ai.axolotl.model;

import org.bytedeco.pytorch.global.torch.ScalarType;

/** Element types that the model and the safetensors format exchange. */
public enum DType {
    F32("F32", "float32", ScalarType.Float, 4),
    BF16("BF16", "bfloat16", ScalarType.BFloat16, 2),
    F16("F16", "float16", ScalarType.Half, 2),
    I64("I64", "int64", ScalarType.Long, 8),
    I32("I32", "int32", ScalarType.Int, 4),
    U8("U8", "uint8", ScalarType.Byte, 1);

    private final String safetensorsName;
    private final String torchName;
    private final ScalarType scalarType;
    private final int bytes;

    DType(String safetensorsName, String torchName, ScalarType scalarType, int bytes) {
        this.safetensorsName = safetensorsName;
        this.torchName = torchName;
        this.scalarType = scalarType;
        this.bytes = bytes;
    }

    /** The name in a safetensors header ("F32"). */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The name in a HF config.json ("float32"). */
    public String torchName() {
        return torchName;
    }

    /** The libtorch element type. */
    public ScalarType scalarType() {
        return scalarType;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** Looks up a safetensors dtype name. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) {
            if (d.safetensorsName.equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unsupported safetensors dtype '" + name + "' (supported: F32, BF16, F16, I64, I32, U8)");
    }

    /** The dtype of a libtorch tensor element type. */
    public static DType of(ScalarType type) {
        for (DType d : values()) {
            if (d.scalarType.value == type.value) {
                return d;
            }
        }
        throw new IllegalArgumentException("unsupported tensor type " + type);
    }
}
