package ai.axolotl.sharding;

import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.TensorParallelStyle;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A rank of another mesh reads only the slices it owns: an FSDP2 checkpoint of dp_shard 2 (no tensor parallel)
 * opened for tensor-parallel ranks 0 and 1 of 2 gives each rank exactly its rows or columns of every parameter
 * and AdamW moment, and the bytes it reads from the partition files are those slices' bytes (the replicated norms
 * whole), counted by the reader as it reads.
 */
class MeshCheckpointSliceTest {
    private static final String[] KINDS = {"param", "exp_avg", "exp_avg_sq"};

    @Test
    void eachTensorParallelRankReadsExactlyTheBytesItOwns(@TempDir Path dir) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, ReshardTest.FSDP);
        StrategyTestKit.fixture(dir, false, 262);
        kit.run(kit.config(dir, 2, dir.resolve("out"), Map.of("save_strategy", "steps", "save_steps", "5")), 2, -1);
        Path checkpoint = dir.resolve("out/checkpoint-5");
        ModelConfig config = StrategyTestKit.model(false, 262);
        long total = 0;
        for (String name : config.parameterNames()) {
            long n = 1;
            for (long d : config.parameterShape(name)) {
                n *= d;
            }
            total += 4 * n * KINDS.length;
        }
        for (int rank = 0; rank < 2; rank++) {
            MeshCheckpoint whole = MeshCheckpoint.open(checkpoint, 0, 1);
            MeshCheckpoint mine = MeshCheckpoint.open(checkpoint, rank, 2);
            long owned = 0;
            for (String name : config.parameterNames()) {
                long[] shape = config.parameterShape(name);
                TensorParallelStyle style = config.spec(name).tensorParallel();
                for (String kind : KINDS) {
                    try (Tensor all = whole.read(kind, config.spec(name)); Tensor slice = mine.read(kind, config.spec(name))) {
                        if (style.sharded()) {
                            long len = shape[style.shardDim()] / 2;
                            try (Tensor expected = all.narrow(style.shardDim(), rank * len, len)) {
                                assertThat(Tensors.maxAbsDiff(slice, expected)).as(kind + " " + name).isZero();
                            }
                        } else {
                            assertThat(Tensors.maxAbsDiff(slice, all)).as(kind + " " + name).isZero();
                        }
                        owned += slice.nbytes();
                    }
                }
            }
            assertThat(mine.bytesRead()).as("rank " + rank + " of tp 2: bytes read vs bytes of its slices")
                    .isEqualTo(owned).isLessThan(total * 3 / 4);
            assertThat(whole.bytesRead()).as("one process reads everything once").isEqualTo(total);
        }
    }
}
