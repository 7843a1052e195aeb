package ai.axolotl.model;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An export that fails part-way (here the weight stream breaks after two weights, as a full disk or a failed rank
 * would) leaves the directory's previous model exactly as it was and no temporary files; a complete one replaces
 * it.
 */
class AtomicExportTest {
    @Test
    void aFailedExportLeavesThePreviousModelIntact(@TempDir Path dir) throws Exception {
        ModelConfig c = DecoderModelTest.TINY;
        try (PointerScope scope = new PointerScope()) {
            CausalLm old = DecoderModel.initialise(c, 1);
            HfCheckpoint.save(dir, c, old.parameters(), DType.F32, Long.MAX_VALUE);
            byte[] weights = Files.readAllBytes(dir.resolve(HfCheckpoint.WEIGHTS));
            byte[] config = Files.readAllBytes(dir.resolve(HfCheckpoint.CONFIG));
            CausalLm next = DecoderModel.initialise(c, 2);
            for (long shard : new long[] {Long.MAX_VALUE, 4096}) {
                assertThatThrownBy(() -> export(dir, c.withTorchDtype("bfloat16"), next.parameters(), shard, 2))
                        .isInstanceOf(IOException.class).hasMessageContaining("disk full");
                assertThat(Files.readAllBytes(dir.resolve(HfCheckpoint.WEIGHTS))).isEqualTo(weights);
                assertThat(Files.readAllBytes(dir.resolve(HfCheckpoint.CONFIG))).isEqualTo(config);
                try (Stream<Path> files = Files.list(dir)) {
                    assertThat(files.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".tmp"))
                            .doesNotContain(HfCheckpoint.INDEX);
                }
            }
            export(dir, c, next.parameters(), Long.MAX_VALUE, Integer.MAX_VALUE);
            assertThat(Files.readAllBytes(dir.resolve(HfCheckpoint.WEIGHTS))).isNotEqualTo(weights);
        }
    }

    /** Streams {@code params} into a writer, failing with "disk full" after {@code failAfter} weights. */
    private static void export(Path dir, ModelConfig c, Map<String, Tensor> params, long shardBytes, int failAfter)
            throws IOException {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        params.forEach((n, t) -> shapes.put(n, t.shape()));
        try (HfModelWriter w = new HfModelWriter(dir, c, shapes, DType.F32, shardBytes)) {
            int n = 0;
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                if (n++ == failAfter) {
                    throw new IOException("disk full");
                }
                w.accept(e.getKey(), e.getValue());
            }
        }
    }
}
