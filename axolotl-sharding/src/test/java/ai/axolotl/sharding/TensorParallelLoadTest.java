package ai.axolotl.sharding;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.DType;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.sharding.tp.TensorParallelism;
import ai.axolotl.train.ShardingStrategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Tensor parallel from a base model with weights (no {@code reinit_weights}): each rank reads only its slices from
 * the safetensors files, and the run is the one-process run from the same weights (losses 1e-5, weights 1e-4).
 */
class TensorParallelLoadTest {
    @Test
    void ranksLoadTheirSlicesAndTrainTheOneProcessCurve(@TempDir Path dir) throws Exception {
        List<ShardingStrategy> created = new CopyOnWriteArrayList<>();
        StrategyTestKit kit = new StrategyTestKit((c, groups) -> {
            ShardingStrategy s = Strategies.create(c, groups);
            created.add(s);
            return s;
        }, "").tensorParallel(2);
        StrategyTestKit.fixture(dir, false, 262);
        ModelConfig shape = StrategyTestKit.model(false, 262);
        Path base = dir.resolve("base");
        try (CausalLm m = DecoderModel.initialise(shape, 17)) {
            HfCheckpoint.save(base, shape, m.parameters(), DType.BF16, 1L << 30);
        }
        Map<String, String> fromWeights = Map.of("base_model", base.toString(), "reinit_weights", "false");
        List<Double> one = kit.run(kit.config(dir, 1, dir.resolve("one"), fromWeights), 0, -1).get(0);
        List<List<Double>> tp = kit.run(kit.config(dir, 2, dir.resolve("tp"), fromWeights), 2, -1);
        long fileBytes = Files.size(base.resolve("model.safetensors"));
        assertThat(created).hasSize(2).allSatisfy(s -> assertThat(StrategyTestKit.modelParallelLayer(s, TensorParallelism.class).baseModelBytesRead())
                .as("each rank read its slices of the weights, not the whole file").isPositive()
                .isLessThan(fileBytes * 3 / 4));

        for (int r = 0; r < 2; r++) {
            StrategyTestKit.assertClose(tp.get(r), one, "tp 2 from base weights, rank " + r);
        }
        StrategyTestKit.assertSameWeights(dir.resolve("one"), dir.resolve("tp"), "tp 2 from base weights");
    }
}
