package ai.axolotl.model.quant;

import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * NF4 against the golden vector of the research note (worked by hand from bitsandbytes' reference op): codes,
 * packed bytes and dequantized values bit for bit; the thresholds equal bitsandbytes' CUDA literals; short tails,
 * all-zero blocks, ties, double quantization and the storage cost.
 */
class Nf4TensorTest {
    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    @Test
    void theGoldenBlockQuantizesBitForBit() {
        try (PointerScope scope = new PointerScope()) {
            float[] x = new float[64];
            float[] head = {-2.0f, -1.0f, 0.0f, 0.5f, 1.0f, 2.0f, 0.1f, -0.3f};
            System.arraycopy(head, 0, x, 0, 8);
            for (boolean dq : new boolean[] {false, true}) {
                Nf4Tensor q = Nf4Tensor.quantize(Tensors.floats(x, 64), dq);
                byte[] bytes = Tensors.toBytes(q.packed());
                assertThat(bytes).hasSize(32);
                assertThat(bytes[0] & 0xff).isEqualTo(0x02);
                assertThat(bytes[1] & 0xff).isEqualTo(0x7A);
                assertThat(bytes[2] & 0xff).isEqualTo(0xCF);
                assertThat(bytes[3] & 0xff).isEqualTo(0x85);
                for (int i = 4; i < 32; i++) {
                    assertThat(bytes[i] & 0xff).as("byte " + i).isEqualTo(0x77);
                }
                assertThat(((bytes[1] & 0xff) << 8) | (bytes[0] & 0xff)).as("bf16 storage element 0").isEqualTo(0x7A02);
                assertThat(Tensors.toFloatArray(q.absmax())).containsExactly(2.0f);
                float[] d = Tensors.toFloatArray(q.dequantize(ScalarType.Float));
                assertThat(d[0]).isEqualTo(-2.0f);
                assertThat(d[1]).isEqualTo(-1.0501461f);
                assertThat(d[2]).isEqualTo(0.0f);
                assertThat(d[3]).isEqualTo(0.4922246f);
                assertThat(d[4]).as("NF4[12] x absmax, exactly; the note prints it as 0.8814197")
                        .isEqualTo(2.0f * Nf4Tensor.values()[12]).isCloseTo(0.8814197f, within(1e-7f));
                assertThat(d[5]).isEqualTo(2.0f);
                assertThat(d[6]).isEqualTo(0.1591606f);
                assertThat(d[7]).isEqualTo(-0.36954686f);
                for (int i = 8; i < 64; i++) {
                    assertThat(d[i]).isZero();
                }
            }
        }
    }

    @Test
    void thresholdsAreBitsandbytesCudaLiteralsAndTiesGoLower() {
        float[] cuda = {-0.8480964f, -0.6106329f, -0.45999527f, -0.33967942f, -0.2346074f, -0.13791174f,
            -0.045525018f, 0.03979015f, 0.12025525f, 0.20352125f, 0.29201376f, 0.38931254f, 0.50166345f, 0.6427869f,
            0.86147845f};
        assertThat(Nf4Tensor.thresholds()).containsExactly(cuda);
        try (PointerScope scope = new PointerScope()) {
            float[] x = {1.0f, 0.03979015f, Math.nextUp(0.03979015f), -1.0f};
            Nf4Tensor q = Nf4Tensor.quantize(Tensors.floats(x, 4), false);
            byte[] b = Tensors.toBytes(q.packed());
            assertThat(b[0] & 0xff).isEqualTo(0xF7); // 1.0 -> 15, the midpoint itself -> 7
            assertThat(b[1] & 0xff).isEqualTo(0x80); // just above -> 8, -1.0 -> 0
        }
    }

    @Test
    void shortTailsOddCountsAndZeroBlocks() {
        try (PointerScope scope = new PointerScope()) {
            float[] x = new float[64 + 64 + 7];
            for (int i = 0; i < 64; i++) {
                x[i] = (i - 32) / 8f;
            }
            // block 2 all zero; block 3 a short tail of 7 values with its own absmax
            for (int i = 0; i < 7; i++) {
                x[128 + i] = 0.01f * (i + 1);
            }
            Nf4Tensor q = Nf4Tensor.quantize(Tensors.floats(x, 5, 27), false);
            assertThat(q.packed().numel()).isEqualTo(68); // ceil(135 / 2)
            float[] amax = Tensors.toFloatArray(q.absmax());
            assertThat(amax).containsExactly(4.0f, 0.0f, 0.07f);
            byte[] b = Tensors.toBytes(q.packed());
            for (int i = 32; i < 64; i++) {
                assertThat(b[i] & 0xff).as("an all-zero block is code 7 (the reference op)").isEqualTo(0x77);
            }
            assertThat(b[67] & 0x0f).as("the odd count's padding nibble is a zero value").isEqualTo(7);
            Tensor d = q.dequantize(ScalarType.Float);
            assertThat(d.shape()).containsExactly(5, 27);
            float[] back = Tensors.toFloatArray(d);
            for (int i = 0; i < x.length; i++) {
                float bound = i < 64 ? 4.0f : i < 128 ? 0 : 0.07f;
                assertThat(Math.abs(back[i] - x[i])).as("value " + i).isLessThanOrEqualTo(0.1520f * bound + 1e-7f);
            }
            assertThat(back[128 + 6]).as("the tail's own absmax is exact").isEqualTo(0.07f);
        }
    }

    @Test
    void doubleQuantizationCostsAbout4Point13BitsAndKeepsTheAbsmaxClose() {
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(3);
            Tensor w = torch.randn(256, 1024);
            Nf4Tensor plain = Nf4Tensor.quantize(w, false);
            Nf4Tensor dq = Nf4Tensor.quantize(w, true);
            double bits = 8.0 * dq.bytes() / w.numel();
            assertThat(bits).isCloseTo(4.127, within(0.002));
            assertThat(8.0 * plain.bytes() / w.numel()).isCloseTo(4.5, within(0.001));
            float[] exact = Tensors.toFloatArray(plain.absmax());
            float[] nested = Tensors.toFloatArray(dq.absmax());
            for (int i = 0; i < exact.length; i++) {
                assertThat(nested[i]).isCloseTo(exact[i], within(0.02f * exact[i]));
            }
            try (Tensor a = plain.dequantize(ScalarType.Float); Tensor b = dq.dequantize(ScalarType.Float);
                 Tensor e = a.sub(w); Tensor r = e.abs()) {
                assertThat(r.mean().item_double()).as("NF4's mean abs error on N(0,1)").isLessThan(0.1);
                assertThat(Tensors.maxAbsDiff(a, b)).isLessThan(0.05);
            }
            Tensor bf = dq.dequantize(ScalarType.BFloat16);
            assertThat(Tensors.sameType(bf.scalar_type(), ScalarType.BFloat16)).isTrue();
        }
    }

    @Test
    void theDynamicMapHasBitsandbytesShape() {
        float[] signed = DynamicMap.create(true);
        assertThat(signed).hasSize(256);
        assertThat(signed[127]).isZero();
        assertThat(signed[0]).isCloseTo(-0.99296874f, within(Math.ulp(0.99296874f)));
        assertThat(signed[255]).isEqualTo(1.0f);
        assertThat(signed[128]).isCloseTo(5.5e-7f, within(0.05e-7f));
        float[] unsigned = DynamicMap.create(false);
        assertThat(unsigned[0]).isZero();
        assertThat(unsigned[255]).isEqualTo(1.0f);
        assertThat(unsigned[1]).isCloseTo(3.25e-7f, within(0.01e-7f));
        for (int i = 1; i < 256; i++) {
            assertThat(signed[i]).isGreaterThan(signed[i - 1]);
            assertThat(unsigned[i]).isGreaterThan(unsigned[i - 1]);
        }
    }

    /**
     * A tensor-parallel slice of a weight quantized whole dequantizes to exactly the slice of the whole one's
     * dequantization (bit for bit), by rows and by columns, with widths that cut blocks (40 columns: blocks span
     * rows; 10 columns: a block spans slices), and costs 4 + 40/64 bits per weight when rows are whole blocks.
     */
    @Test
    void aSliceOfAWholeQuantizationDequantizesToTheSliceBitForBit() {
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(5);
            Tensor w = torch.randn(48, 40);
            Nf4Tensor whole = Nf4Tensor.quantize(w, true);
            Tensor all = whole.dequantize(ScalarType.Float);
            for (int dim = 0; dim < 2; dim++) {
                for (int size : new int[] {2, 4}) {
                    long n = w.size(dim) / size;
                    for (int rank = 0; rank < size; rank++) {
                        Nf4Tensor slice = whole.slice(dim, rank, size);
                        Tensor expected = all.narrow(dim, rank * n, n).contiguous();
                        Tensor got = slice.dequantize(ScalarType.Float);
                        assertThat(got.shape()).containsExactly(expected.shape());
                        assertThat(torch.equal(got, expected)).as("dim " + dim + " size " + size + " rank " + rank)
                                .isTrue();
                    }
                }
            }
            Tensor big = torch.randn(64, 256);
            Nf4Tensor q = Nf4Tensor.quantize(big, true);
            Nf4Tensor cols = q.slice(1, 1, 2);
            assertThat(8.0 * cols.bytes() / cols.dequantize(ScalarType.Float).numel()).isCloseTo(4.625,
                    within(0.001));
            assertThat(cols.storage()).containsOnlyKeys("", ".absmax", ".segments");
        }
    }
}
