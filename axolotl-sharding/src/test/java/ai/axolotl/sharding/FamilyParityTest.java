package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * Every parallelism composes with every family: the strategy test kit, unchanged, on tiny models of Mistral
 * (sliding window shorter than the rows), Qwen2 (q/k/v biases), Qwen3 (non-square q/o, q/k norms whose gradients are
 * partial under tensor parallel) and Gemma3 text (Gemma norms, sandwich norms, embedding scale, alternating
 * sliding/global layers with two RoPE tables), tied and untied: one process against DDP, FSDP2 and tp 2 at world 2,
 * with save, crash and resume.
 */
class FamilyParityTest {
    private static final String[] FAMILIES = {"mistral", "qwen2", "qwen3", "gemma3_text"};

    @Test
    void ddpMatchesOneProcessForEveryFamily(@TempDir Path dir) throws Exception {
        for (String family : FAMILIES) {
            new StrategyTestKit(Strategies::create, "").family(family).assertParity(dir.resolve(family), 2);
        }
    }

    @Test
    void fsdp2MatchesOneProcessForEveryFamily(@TempDir Path dir) throws Exception {
        for (String family : FAMILIES) {
            String wrap = StrategyTestKit.model(family, false, 261).decoderLayerClass(); // Qwen3DecoderLayer, ...
            new StrategyTestKit(Strategies::create, Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n")
                    .replace("LlamaDecoderLayer", wrap)).family(family).assertParity(dir.resolve(family), 2);
        }
    }

    @Test
    void tensorParallelMatchesOneProcessForEveryFamily(@TempDir Path dir) throws Exception {
        for (String family : FAMILIES) {
            new StrategyTestKit(Strategies::create, "").family(family).tensorParallel(2)
                    .assertParity(dir.resolve(family), 2);
        }
    }

    /** Without sequence parallel, only the declared partial gradients (Qwen3's q/k norms) are summed over tp. */
    @Test
    void tensorParallelWithoutSequenceParallelSumsTheQkNormGradients(@TempDir Path dir) throws Exception {
        for (String family : new String[] {"qwen3", "gemma3_text"}) {
            new StrategyTestKit(Strategies::create, "tensor_parallel_sequence_parallel: false\n").family(family)
                    .tensorParallel(2).assertParity(dir.resolve(family), 2);
        }
    }
}
