package ai.axolotl.model.quant;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.T_TensorTensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A weight stored as bitsandbytes NF4, bit for bit: the values in row-major order split into blocks of 64, each
 * block's absolute maximum (fp32), each value scaled by the reciprocal of its block's absmax and mapped to the
 * nearest of the 16 published NF4 values (a value on a midpoint takes the lower code, as {@code bucketize}), two
 * codes a byte with the first in the high nibble (an odd count padded with a zero value). With double quantization
 * the absmax are stored as 8-bit codes of {@code absmax - mean(absmax)} in blocks of 256 over the signed dynamic map,
 * with one fp32 scale per block and the fp32 mean: 4 + 8/64 + 32/(64 * 256) = 4.127 bits per weight.
 *
 * <p>An all-zero block quantizes as the reference (pure-torch) op does: absmax clamped to 1e-38, every code 7 (0.0);
 * CUDA's kernel gives code 0 there. Both dequantize to zero.
 *
 * <p>The packed bytes are only ever copied as bytes, never through a float op.
 *
 * <p>A tensor-parallel rank holds a {@link #slice} of a weight quantized whole: its elements' codes, packed in the
 * slice's own row-major order, and the whole weight's decoded fp32 absmax once per run of the slice's elements that
 * lie in one block of the whole (a segment, its length a byte). It dequantizes to exactly the slice of the whole
 * weight's dequantization, at 4 + 40/64 bits per weight when the slice's rows are whole blocks.
 */
public final class Nf4Tensor implements AutoCloseable {
    /** Values per block. */
    public static final int BLOCK = 64;
    /** Absmax values per block of the double quantization. */
    public static final int NESTED_BLOCK = 256;
    /** The 16 NF4 values, as bitsandbytes hard-codes them (fp32 bit patterns, index = code). */
    static final int[] NF4_BITS = {0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f,
        0xbdba7871, 0x00000000, 0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3,
        0x3f800000};
    private static final float[] NF4 = new float[16];
    private static final float[] SIGNED_MAP = DynamicMap.create(true);

    static {
        for (int i = 0; i < 16; i++) {
            NF4[i] = Float.intBitsToFloat(NF4_BITS[i]);
        }
    }

    private final long[] shape;
    private final long numel;
    private final Tensor packed;
    private final Tensor absmax;
    private final Tensor nestedCodes;
    private final Tensor nestedAbsmax;
    private final float offset;
    private final Tensor segmentAbsmax;
    private final Tensor segmentLengths;

    private Nf4Tensor(long[] shape, long numel, Tensor packed, Tensor absmax, Tensor nestedCodes, Tensor nestedAbsmax,
                      float offset) {
        this(shape, numel, packed, absmax, nestedCodes, nestedAbsmax, offset, null, null);
    }

    private Nf4Tensor(long[] shape, long numel, Tensor packed, Tensor absmax, Tensor nestedCodes, Tensor nestedAbsmax,
                      float offset, Tensor segmentAbsmax, Tensor segmentLengths) {
        this.shape = shape.clone();
        this.numel = numel;
        this.packed = packed;
        this.absmax = absmax;
        this.nestedCodes = nestedCodes;
        this.nestedAbsmax = nestedAbsmax;
        this.offset = offset;
        this.segmentAbsmax = segmentAbsmax;
        this.segmentLengths = segmentLengths;
    }

    /** The 16 NF4 values (index = code). */
    public static float[] values() {
        return NF4.clone();
    }

    /** The 15 decision thresholds: the fp32 midpoints of consecutive NF4 values. */
    public static float[] thresholds() {
        return DynamicMap.midpoints(NF4);
    }

    /**
     * Quantizes {@code w} (any float type, computed in fp32) on its device.
     *
     * @param doubleQuant store the absmax as 8-bit codes (bitsandbytes' {@code compress_statistics}, Axolotl's
     *                    {@code bnb_4bit_use_double_quant: true})
     */
    public static Nf4Tensor quantize(Tensor w, boolean doubleQuant) {
        long n = w.numel();
        long blocks = (n + BLOCK - 1) / BLOCK;
        try (Tensor bounds = onDevice(thresholds(), w);
             BlockQuantizer.Blocks q = BlockQuantizer.quantize(w, BLOCK, bounds, false, 1e-38, true);
             Tensor used = q.codes().narrow(0, 0, n)) {
            Tensor bytes = BlockQuantizer.pack4(used, 7); // an odd count's padding is a zero value (code 7)
            if (!doubleQuant) {
                return new Nf4Tensor(w.shape(), n, bytes, q.absmax().clone(), null, null, 0f);
            }
            float mean;
            try (Tensor m = q.absmax().mean()) {
                mean = (float) m.item_double();
            }
            try (Tensor centered = q.absmax().sub(new Scalar(mean));
                 Tensor mid = onDevice(DynamicMap.midpoints(SIGNED_MAP), w);
                 BlockQuantizer.Blocks nested = BlockQuantizer.quantize(centered, NESTED_BLOCK, mid, false, 1e-38,
                         true);
                 Tensor codes = nested.codes().narrow(0, 0, blocks)) {
                return new Nf4Tensor(w.shape(), n, bytes, null, codes.to(ScalarType.Byte), nested.absmax().clone(),
                        mean);
            }
        }
    }

    private static Tensor onDevice(float[] values, Tensor like) {
        return BlockQuantizer.table(values, like);
    }

    /**
     * Rank {@code rank}'s slice of this 2-D weight cut into {@code size} equal parts along {@code dim} (0: rows, a
     * column-parallel projection's; 1: columns, a row-parallel one's), holding the codes of its elements and the
     * whole weight's decoded absmax per segment; any slice width works (a block of the whole may span slices).
     *
     * @throws IllegalArgumentException when the weight is not 2-D or {@code size} does not divide the dimension
     */
    public Nf4Tensor slice(int dim, int rank, int size) {
        if (shape.length != 2 || segmentAbsmax != null || shape[dim] % size != 0) {
            throw new IllegalArgumentException("cannot cut an NF4 weight of shape " + Arrays.toString(shape)
                    + " into " + size + " along dimension " + dim);
        }
        long n = shape[dim] / size;
        long[] sliceShape = shape.clone();
        sliceShape[dim] = n;
        try (Tensor all = BlockQuantizer.unpack4(packed);
             Tensor codes = all.narrow(0, 0, numel);
             Tensor grid = codes.view(shape[0], shape[1]);
             Tensor part = grid.narrow(dim, rank * n, n);
             Tensor mine = part.contiguous();
             Tensor flat = mine.view(-1);
             Tensor index = torch.arange(new Scalar(numel), Tensors.optionsOn(ScalarType.Long, packed));
             Tensor indexGrid = index.view(shape[0], shape[1]);
             Tensor indexPart = indexGrid.narrow(dim, rank * n, n);
             Tensor indexMine = indexPart.contiguous();
             Tensor indexFlat = indexMine.view(-1);
             Tensor blocks = indexFlat.__rshift__(new Scalar(6)); // BLOCK = 64
             LongOptional noDim = new LongOptional();
             T_TensorTensorTensor_T runs = torch.unique_consecutive(blocks, false, true, noDim);
             Tensor blockOfSegment = runs.get0();
             Tensor lengths = runs.get2();
             Tensor whole = absmax()) {
            return new Nf4Tensor(sliceShape, flat.numel(), BlockQuantizer.pack4(flat, 7), null, null, null, 0f,
                    whole.index_select(0, blockOfSegment), lengths.to(ScalarType.Byte)); // 1..64 fits a byte
        }
    }

    /**
     * The per-block absmax in fp32: stored, or decoded from the double quantization; for a {@link #slice}, one per
     * segment.
     */
    public Tensor absmax() {
        if (segmentAbsmax != null) {
            return segmentAbsmax.clone();
        }
        if (absmax != null) {
            return absmax.clone();
        }
        try (Tensor map = onDevice(SIGNED_MAP, packed);
             Tensor idx = nestedCodes.to(ScalarType.Long);
             Tensor decoded = BlockQuantizer.dequantize(idx, nestedAbsmax, map, NESTED_BLOCK, nestedCodes.numel())) {
            return decoded.add(new Scalar(offset));
        }
    }

    /** The weight in {@code type}, computed in fp32: {@code NF4[code] * absmax[block]}, reshaped. */
    public Tensor dequantize(ScalarType type) {
        if (segmentAbsmax != null) {
            try (Tensor table = onDevice(NF4, packed);
                 Tensor all = BlockQuantizer.unpack4(packed);
                 Tensor codes = all.narrow(0, 0, numel);
                 Tensor vals = table.index_select(0, codes);
                 Tensor repeats = segmentLengths.to(ScalarType.Long);
                 Tensor scales = segmentAbsmax.repeat_interleave(repeats);
                 Tensor w = vals.mul(scales);
                 Tensor shaped = w.view(shape)) {
                return shaped.to(type);
            }
        }
        try (Tensor table = onDevice(NF4, packed);
             Tensor codes = BlockQuantizer.unpack4(packed);
             Tensor amax = absmax();
             Tensor w = BlockQuantizer.dequantize(codes, amax, table, BLOCK, numel);
             Tensor shaped = w.view(shape)) {
            return shaped.to(type);
        }
    }

    /** The packed codes: {@code ceil(n / 2)} bytes, the first value of each pair in the high nibble. */
    public Tensor packed() {
        return packed;
    }

    /**
     * The tensors this weight is stored in, by the suffix bitsandbytes' state dict gives them after the weight's
     * name: {@code ""} the packed codes, {@code ".absmax"} the absmax (their 8-bit codes with double
     * quantization), {@code ".nested_absmax"} the double quantization's scales; a {@link #slice} has
     * {@code ".absmax"} per segment and {@code ".segments"}, their lengths. A strategy may free and refill
     * their storage in place between uses (they are read, never written, after quantization).
     */
    public Map<String, Tensor> storage() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put("", packed);
        if (segmentAbsmax != null) {
            out.put(".absmax", segmentAbsmax);
            out.put(".segments", segmentLengths);
        } else if (absmax != null) {
            out.put(".absmax", absmax);
        } else {
            out.put(".absmax", nestedCodes);
            out.put(".nested_absmax", nestedAbsmax);
        }
        return out;
    }

    /** The shape of the weight. */
    public long[] shape() {
        return shape.clone();
    }

    /** Bytes held: packed codes, absmax (or their codes, scales and the offset). */
    public long bytes() {
        long b = packed.nbytes();
        if (segmentAbsmax != null) {
            b += segmentAbsmax.nbytes() + segmentLengths.nbytes();
        } else if (absmax != null) {
            b += absmax.nbytes();
        } else {
            b += nestedCodes.nbytes() + nestedAbsmax.nbytes() + 4;
        }
        return b;
    }

    @Override
    public void close() {
        packed.close();
        if (absmax != null) {
            absmax.close();
        }
        if (nestedCodes != null) {
            nestedCodes.close();
            nestedAbsmax.close();
        }
        if (segmentAbsmax != null) {
            segmentAbsmax.close();
            segmentLengths.close();
        }
    }
}
