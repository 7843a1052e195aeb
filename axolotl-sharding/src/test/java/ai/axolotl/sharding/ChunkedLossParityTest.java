package ai.axolotl.sharding;

import ai.axolotl.model.ChunkedCrossEntropy;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * {@code cut_cross_entropy: true} (the chunked output projection and loss) passes the strategy test kit, in chunks
 * of a few tokens so that every micro-batch is cut: one process against DDP, FSDP2 and tensor parallel (where each
 * chunk's loss is the vocab-parallel one), tied and untied, with save, crash and resume.
 */
class ChunkedLossParityTest {
    private static final String YAML = "cut_cross_entropy: true\n";

    @BeforeEach
    void smallChunks() {
        System.setProperty(ChunkedCrossEntropy.CHUNK_PROPERTY, String.valueOf(262 * 8));
    }

    @AfterEach
    void defaultChunks() {
        System.clearProperty(ChunkedCrossEntropy.CHUNK_PROPERTY);
    }

    @Test
    void ddpAndFsdp2MatchOneProcess(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, YAML).assertParity(dir.resolve("ddp"), 2);
        new StrategyTestKit(Strategies::create, YAML + Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"))
                .assertParity(dir.resolve("fsdp2"), 2);
    }

    @Test
    void tensorParallelComposesWithTheVocabParallelLoss(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, YAML).tensorParallel(2).assertParity(dir, 2);
    }
}
