package ai.axolotl.train.optim;

import ai.axolotl.runtime.Tensors;
import ai.axolotl.model.quant.BlockQuantizer;
import ai.axolotl.model.quant.DynamicMap;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A moment of {@code n} values stored in blocks of 256 as {@link LowBitFormat} says: per block the fp32 absolute
 * maximum (at least 1e-12, as torchao clips it), per value the code of the map entry nearest to
 * {@code value / absmax}; 8-bit codes one a byte, 4-bit codes two a byte (high nibble first). Starts at zero (codes
 * 0, absmax 0). The blocks start at element 0 of the tensor it covers, so a partition that starts on a multiple of
 * 256 of the whole parameter holds exactly the whole parameter's blocks.
 */
public final class QuantizedMoment implements Moment {
    private final LowBitFormat format;
    private final boolean signed;
    private final long n;
    private final long blocks;
    private final Tensor codes;
    private final Tensor absmax;
    private final Tensor map;
    private final Tensor midpoints;

    /**
     * @param signed the first moment (signed map) or the second (unsigned)
     * @param n values
     * @param like where the state lives
     */
    public QuantizedMoment(LowBitFormat format, boolean signed, long n, Tensor like) {
        this.format = format;
        this.signed = signed;
        this.n = n;
        this.blocks = (n + LowBitFormat.BLOCK - 1) / LowBitFormat.BLOCK;
        long padded = blocks * LowBitFormat.BLOCK;
        long codeBytes = format.bits() == 8 ? padded : padded / 2;
        this.codes = Tensors.unscoped(torch.zeros(new long[] {codeBytes}, Tensors.optionsOn(ScalarType.Byte, like)));
        this.absmax = Tensors.unscoped(Tensors.zerosOn(like, blocks));
        float[] values = format.map(signed);
        this.map = Tensors.unscoped(BlockQuantizer.table(values, like));
        this.midpoints = Tensors.unscoped(BlockQuantizer.table(DynamicMap.midpoints(values), like));
    }

    @Override
    public Tensor read() {
        try (Tensor idx = format.bits() == 8 ? codes.to(ScalarType.Long) : BlockQuantizer.unpack4(codes)) {
            return BlockQuantizer.dequantize(idx, absmax, map, LowBitFormat.BLOCK, n);
        }
    }

    @Override
    public void write(Tensor values) {
        try (BlockQuantizer.Blocks q = BlockQuantizer.quantize(values, LowBitFormat.BLOCK, midpoints,
                format.tiesUp(), 1e-12, false)) {
            try (Tensor c = format.bits() == 8 ? q.codes().to(ScalarType.Byte) : BlockQuantizer.pack4(q.codes(), 0)) {
                codes.copy_(c);
            }
            absmax.copy_(q.absmax());
        }
    }

    /** The codes (one byte per 8-bit value, or per two 4-bit values), over whole blocks. */
    public Tensor codes() {
        return codes;
    }

    /** The fp32 absmax of each block. */
    public Tensor absmax() {
        return absmax;
    }

    /** True for the first moment's signed map. */
    public boolean signed() {
        return signed;
    }

    @Override
    public Map<String, Tensor> state() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("codes", codes);
        m.put("absmax", absmax);
        return m;
    }

    @Override
    public long bytes() {
        return codes.nbytes() + absmax.nbytes();
    }

    @Override
    public void close() {
        codes.close();
        absmax.close();
        map.close();
        midpoints.close();
    }
}
