package ai.axolotl.sharding;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.partition.ShardedOptimizer;
import ai.axolotl.sharding.partition.ShardedParameter;
import ai.axolotl.train.optim.JavaAdamW;
import ai.axolotl.train.optim.LowBitFormat;
import ai.axolotl.train.optim.QuantizedMoment;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A low-bit state's blocks do not depend on the world size: every partition of a quantized parameter is whole
 * blocks (ZeRO's flat partitions and FSDP2's whole rows), and after a step each rank's codes and absmax equal the
 * matching slice of the one-process state, bit for bit.
 */
class LowBitBlocksTest {
    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    @Test
    void partitionsAreWholeBlocks() {
        for (int world : new int[] {2, 3, 4, 7}) {
            long c = ShardedParameter.chunkOf(new long[] {8192}, world, false, 256);
            assertThat(c % 256).as("flat, world " + world).isZero();
            assertThat(c * world).isGreaterThanOrEqualTo(8192);
            long rows = ShardedParameter.chunkOf(new long[] {261, 48}, world, true, 256);
            assertThat(rows % 256).as("rows of 48, world " + world).isZero();
            assertThat(rows % 48).isZero();
        }
        assertThat(ShardedParameter.chunkOf(new long[] {8192}, 3, false, 1)).as("without a low-bit state: as before")
                .isEqualTo(2731);
    }

    @Test
    void eachRanksCodesAndAbsmaxAreTheOneProcessStatesSlice() {
        OptimizerSettings s = new OptimizerSettings("adamw_8bit", 1e-2, 0.0, 0.9, 0.999, 1e-8, 1.0);
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            torch.manual_seed(9);
            Tensor whole = torch.randn(100, 60); // 6,000 elements: not a multiple of 256, nor of 3 x 256
            Tensor grad = torch.randn(100, 60);
            Tensor reference = whole.clone();
            reference.requires_grad_(true);
            reference.mutable_grad().put(grad.clone());
            JavaAdamW one = new JavaAdamW(s, LowBitFormat.BNB_8BIT, Map.of("w.weight", reference));
            one.step(1e-2);
            QuantizedMoment ref = (QuantizedMoment) one.first("w.weight");
            byte[] refCodes = Tensors.toBytes(ref.codes());
            float[] refAbsmax = Tensors.toFloatArray(ref.absmax());
            int world = 3;
            for (int rank = 0; rank < world; rank++) {
                Tensor param = whole.clone();
                ShardedParameter p = new ShardedParameter("w.weight", param, whole, rank, world, true, false,
                        ScalarType.Float, 256);
                long chunk = p.chunk();
                long start = rank * chunk;
                long len = Math.max(0, Math.min(6000, start + chunk) - start);
                try (Tensor flat = grad.reshape(-1)) {
                    p.shardGrad().zero_();
                    if (len > 0) {
                        p.shardGrad().narrow(0, 0, len).copy_(flat.narrow(0, start, len));
                    }
                }
                ShardedOptimizer opt = new ShardedOptimizer(s, List.of(p));
                opt.step(1e-2);
                QuantizedMoment mine = (QuantizedMoment) opt.firstMoment("w.weight");
                byte[] codes = Tensors.toBytes(mine.codes());
                float[] absmax = Tensors.toFloatArray(mine.absmax());
                for (long i = 0; i < len; i++) {
                    assertThat(codes[(int) i]).as("rank " + rank + " code " + (start + i))
                            .isEqualTo(refCodes[(int) (start + i)]);
                }
                for (long b = 0; b < (len + 255) / 256; b++) {
                    assertThat(absmax[(int) b]).as("rank " + rank + " block " + (start / 256 + b))
                            .isEqualTo(refAbsmax[(int) (start / 256 + b)]);
                }
                opt.close();
            }
            one.close();
        }
    }
}
