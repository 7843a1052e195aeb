package ai.axolotl.examples;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class ExampleAssetsTest {
    @Test
    void shippedCorpusIsTheGeneratorsOutput() throws Exception {
        String shipped = Files.readString(Path.of("axolotl-examples/data/tiny-corpus.jsonl"));
        assertThat(shipped).isEqualTo(TinyCorpus.jsonl(TinyCorpus.DEFAULT_ROWS, TinyCorpus.DEFAULT_SEED));
    }

    @Test
    void exampleConfigValidatesWithoutWarningsAndUsesTheTinyShape() {
        var loaded = ConfigLoader.load(Path.of("axolotl-examples/configs/llama-tiny.yml"), Map.of());
        AxolotlConfig c = loaded.config();
        assertThat(loaded.warnings()).isEmpty();
        assertThat(ConfigLoader.unresolvedReferences(c)).isEmpty();
        ModelConfig shape = ModelConfig.read(Path.of(c.model().baseModel(), "config.json"));
        ModelConfig tiny = ModelConfig.shape("llama-tiny");
        assertThat(shape.withVocabSize(tiny.vocabSize())).isEqualTo(tiny);
    }

    @Test
    void qwen3ExampleValidatesAndIsAQwen3WithItsRealKeys() {
        var loaded = ConfigLoader.load(Path.of("axolotl-examples/configs/qwen3-tiny.yml"), Map.of());
        assertThat(loaded.warnings()).isEmpty();
        ModelConfig shape = ModelConfig.read(Path.of(loaded.config().model().baseModel(), "config.json"));
        assertThat(shape.decoderLayerClass()).isEqualTo("Qwen3DecoderLayer");
        assertThat(shape.parameterShape("model.layers.0.self_attn.q_proj.weight")).containsExactly(512, 256);
        assertThat(shape.parameterShape("model.layers.0.self_attn.q_norm.weight")).containsExactly(64);
        assertThat(shape.tieWordEmbeddings()).isTrue();
        assertThat(shape.carried()).containsEntry("eos_token_id", 151645);
    }
}
