package ai.axolotl.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Config YAML is read as Axolotl's PyYAML reads it: anchors and aliases of scalars, mappings and sequences, and
 * merge keys resolve (before this, an alias became the anchor's name); beyond PyYAML, a repeated key is an error
 * naming both lines, and a billion-laughs document fails fast.
 */
class YamlLikePyYamlTest {
    private static Map<String, Object> read(Path dir, String yaml) throws Exception {
        Path f = dir.resolve("c.yml");
        Files.writeString(f, yaml);
        return ConfigLoader.readYaml(f);
    }

    @Test
    void aliasesOfScalarsMappingsAndSequencesAndMergeKeysResolve(@TempDir Path dir) throws Exception {
        Map<String, Object> m = read(dir, """
                dataset_prepared_path: &run1 /tmp/prepared-run1
                output_dir: *run1
                base: &base
                  type: completion
                  field: text
                datasets:
                  - <<: *base
                    path: a.jsonl
                  - <<: *base
                    path: b.jsonl
                    field: body
                targets: &t [q_proj, v_proj]
                again: *t
                same: *base
                learning_rate: 2e-4
                bf16: yes
                """);
        assertThat(m.get("output_dir")).isEqualTo("/tmp/prepared-run1");
        List<?> ds = (List<?>) m.get("datasets");
        assertThat(ds.get(0)).isEqualTo(Map.of("type", "completion", "field", "text", "path", "a.jsonl"));
        assertThat(ds.get(1)).as("an explicit key wins over the merged one")
                .isEqualTo(Map.of("type", "completion", "field", "body", "path", "b.jsonl"));
        assertThat(m.get("again")).isEqualTo(List.of("q_proj", "v_proj"));
        assertThat(m.get("same")).isEqualTo(Map.of("type", "completion", "field", "text"));
        // PyYAML keeps "2e-4" (no dot) a string, which Axolotl's schema then reads as this float
        assertThat(m.get("learning_rate")).isEqualTo(2e-4);
        assertThat(m.get("bf16")).as("YAML 1.1 booleans").isEqualTo(true);
    }

    @Test
    void anAliasedPathReachesTheBoundConfig(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("run.yml");
        Files.writeString(f, """
                base_model: &m /models/tiny
                tokenizer_config: *m
                reinit_weights: true
                datasets:
                  - path: data.jsonl
                    type: completion
                sequence_len: 64
                micro_batch_size: 1
                gradient_accumulation_steps: 1
                max_steps: 2
                learning_rate: 2e-4
                output_dir: out
                """);
        AxolotlConfig c = ConfigLoader.load(f, Map.of()).config();
        assertThat(c.model().tokenizerConfig()).isEqualTo("/models/tiny");
        assertThat(c.optimizer().learningRate()).isEqualTo(2e-4);
    }

    @Test
    void aRepeatedKeyIsAnErrorNamingItAndBothLines(@TempDir Path dir) {
        assertThatThrownBy(() -> read(dir, """
                base_model: a
                learning_rate: 0.1
                micro_batch_size: 2
                learning_rate: 0.2
                """)).isInstanceOf(ConfigException.class).hasMessageContaining("learning_rate")
                .hasMessageContaining("line 2 and line 4");
        assertThatThrownBy(() -> read(dir, """
                datasets:
                  - path: a
                    type: completion
                    path: b
                """)).hasMessageContaining("path").hasMessageContaining("line 2 and line 4");
    }

    @Test
    void aBillionLaughsDocumentFailsFast(@TempDir Path dir) {
        StringBuilder b = new StringBuilder("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        char prev = 'a';
        for (char c = 'b'; c <= 'j'; c++) {
            b.append(c).append(": &").append(c).append(" [");
            for (int i = 0; i < 9; i++) {
                b.append(i == 0 ? "" : ",").append('*').append(prev);
            }
            b.append("]\n");
            prev = c;
        }
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> read(dir, b.toString())).isInstanceOf(ConfigException.class)
                .hasMessageContaining("aliases");
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(5);
    }

    @Test
    void malformedYamlNamesLineAndColumn(@TempDir Path dir) {
        assertThatThrownBy(() -> read(dir, "base_model: a\ndatasets: [unclosed\n"))
                .isInstanceOf(ConfigException.class).hasMessageMatching("(?s).*malformed YAML at .*c\\.yml:\\d+:\\d+.*");
    }
}
