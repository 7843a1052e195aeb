package ai.axolotl.spark;

import ai.axolotl.config.DatasetConfig;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The DataFrame columns a {@code datasets} entry reads, by its {@code type}: {@code completion} the text column
 * its {@code field} names (default {@code text}); {@code alpaca} {@code instruction}, {@code output} and optionally
 * {@code input}; no type (pre-tokenized) {@code input_ids} and optionally {@code labels}, integer arrays.
 *
 * @param key the config key that names the columns, for messages
 * @param required columns that must exist
 * @param optional columns used when present
 * @param integerArrays true when the columns hold token ids rather than text
 */
record InputColumns(String key, List<String> required, List<String> optional, boolean integerArrays) {
    /** The columns of {@code datasets[0]}. */
    static InputColumns of(DatasetConfig d) {
        String type = d.type();
        if (type == null || type.equals("pretokenized")) {
            return new InputColumns("datasets[0].type (absent: pre-tokenized)", List.of("input_ids"),
                    List.of("labels"), true);
        }
        return switch (type) {
            case "completion" -> new InputColumns("datasets[0].field", List.of(d.field() == null ? "text" : d.field()),
                    List.of(), false);
            case "alpaca" -> new InputColumns("datasets[0].type: alpaca", List.of("instruction", "output"),
                    List.of("input"), false);
            default -> throw new SparkTrainingException("datasets[0].type: '" + type + "' cannot be read from a "
                    + "DataFrame (completion, alpaca or pre-tokenized)");
        };
    }

    /**
     * The columns to select from {@code schema}, checked: every required column exists with the right type.
     *
     * @throws SparkTrainingException naming the config key, the column and the DataFrame's columns
     */
    List<String> select(StructType schema) {
        List<String> names = Arrays.asList(schema.fieldNames());
        List<String> out = new ArrayList<>();
        for (String c : required) {
            if (!names.contains(c)) {
                throw new SparkTrainingException(key + ": the DataFrame has no column '" + c + "' (its columns: "
                        + String.join(", ", names) + ")");
            }
            out.add(c);
        }
        for (String c : optional) {
            if (names.contains(c)) {
                out.add(c);
            }
        }
        for (String c : out) {
            DataType t = schema.apply(c).dataType();
            if (!typeFits(t)) {
                throw new SparkTrainingException(key + ": column '" + c + "' is " + t.simpleString() + ", expected "
                        + (integerArrays ? "an array of integers" : "string"));
            }
        }
        return out;
    }

    private boolean typeFits(DataType t) {
        if (!integerArrays) {
            return t.equals(DataTypes.StringType);
        }
        if (!(t instanceof ArrayType a)) {
            return false;
        }
        DataType e = a.elementType();
        return e.equals(DataTypes.IntegerType) || e.equals(DataTypes.LongType) || e.equals(DataTypes.ShortType)
                || e.equals(DataTypes.ByteType);
    }
}
