package ai.axolotl.model.quant;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Blockwise absmax quantization, the one step NF4 (its values and its nested absmax) and the low-bit optimizer
 * states share: values in row-major order cut into blocks (a short last block padded with zeros, which change no
 * maximum), each block's absolute maximum, each value scaled by it and mapped to the code of the nearest map entry
 * through the map's midpoints.
 */
public final class BlockQuantizer {
    private BlockQuantizer() {}

    /**
     * The codes and per-block absmax of a tensor.
     *
     * @param codes one int64 code per value of the blocks (the padding included), flat
     * @param absmax the fp32 absmax of each block, at least the given floor
     */
    public record Blocks(Tensor codes, Tensor absmax) implements AutoCloseable {
        @Override
        public void close() {
            codes.close();
            absmax.close();
        }
    }

    /**
     * @param values any float tensor (computed in fp32)
     * @param block values per block
     * @param midpoints the ascending decision points between consecutive map entries
     * @param tiesUp a value on a midpoint takes the upper code (torchao) instead of the lower (bitsandbytes)
     * @param floor the least absmax (a block of zeros divides by it): 1e-38 for NF4, 1e-12 for optimizer states
     * @param multiply scale by the reciprocal of the absmax (bitsandbytes' NF4) rather than divide
     */
    public static Blocks quantize(Tensor values, int block, Tensor midpoints, boolean tiesUp, double floor,
                                  boolean multiply) {
        long n = values.numel();
        long blocks = (n + block - 1) / block;
        long padded = blocks * block;
        try (Tensor d = values.detach(); Tensor f = d.to(ScalarType.Float); Tensor flat = f.reshape(-1);
             Tensor full = padded == n ? new Tensor(flat) : torch.constant_pad_nd(flat, new long[] {0, padded - n});
             Tensor grid = full.view(blocks, block);
             Tensor mags = grid.abs();
             Tensor amax = mags.amax(new long[] {1}, true);
             Tensor safe = amax.clamp_min(new Scalar(floor));
             Tensor inv = multiply ? safe.reciprocal() : null;
             Tensor scaled = multiply ? grid.mul(inv) : grid.div(safe);
             Tensor clamped = multiply ? scaled.clamp(new org.bytedeco.pytorch.ScalarOptional(new Scalar(-1.0)),
                     new org.bytedeco.pytorch.ScalarOptional(new Scalar(1.0))) : new Tensor(scaled);
             Tensor idx = torch.bucketize(clamped, midpoints, false, tiesUp);
             Tensor codes = idx.view(-1);
             Tensor stored = multiply ? amax.view(-1) : safe.view(-1)) {
            return new Blocks(codes.clone(), stored.clone());
        }
    }

    /**
     * The values the codes stand for: {@code table[code] x absmax[block]} in fp32, the first {@code n}, flat.
     *
     * @param codes int64 codes over whole blocks (or at least {@code n} of them), flat
     */
    public static Tensor dequantize(Tensor codes, Tensor absmax, Tensor table, int block, long n) {
        long blocks = absmax.numel();
        try (Tensor vals = table.index_select(0, codes);
             Tensor padded = vals.numel() == blocks * block ? new Tensor(vals)
                     : torch.constant_pad_nd(vals, new long[] {0, blocks * block - vals.numel()});
             Tensor grid = padded.view(blocks, block);
             Tensor scales = absmax.view(blocks, 1);
             Tensor scaled = grid.mul(scales);
             Tensor flat = scaled.view(-1);
             Tensor used = flat.narrow(0, 0, n)) {
            return used.clone();
        }
    }

    /** Two 4-bit codes a byte, the first in the high nibble; an odd count is padded with {@code padCode}. */
    public static Tensor pack4(Tensor codes, long padCode) {
        try (Tensor even = codes.numel() % 2 == 0 ? new Tensor(codes)
                     : torch.constant_pad_nd(codes, new long[] {0, 1}, new Scalar(padCode));
             Tensor pairs = even.view(-1, 2);
             Tensor hi = pairs.select(1, 0);
             Tensor lo = pairs.select(1, 1);
             Tensor hi16 = hi.mul(new Scalar(16));
             Tensor both = hi16.add(lo)) {
            return both.to(ScalarType.Byte);
        }
    }

    /** The int64 codes of bytes packed by {@link #pack4}, two per byte, flat. */
    public static Tensor unpack4(Tensor packed) {
        try (Tensor wide = packed.to(ScalarType.Long);
             Tensor hi = wide.__rshift__(new Scalar(4));
             Tensor lo = wide.bitwise_and(new Scalar(15));
             Tensor both = torch.stack(new org.bytedeco.pytorch.TensorVector(hi, lo), 1)) {
            return both.view(-1);
        }
    }

    /** {@code values} on {@code like}'s device as an fp32 tensor. */
    public static Tensor table(float[] values, Tensor like) {
        try (Tensor host = Tensors.floats(values, values.length)) {
            return host.to(like.device(), ScalarType.Float);
        }
    }
}
