package ai.axolotl.config;

import ai.axolotl.testing.SharedFiles;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Every Axolotl example YAML either validates or fails naming the unsupported feature it needs. */
class CorpusWalkTest {
    @Test
    void everyCorpusExampleLoadsOrNamesAnUnsupportedFeature() throws IOException {
        Path shared = SharedFiles.root();
        Assumptions.assumeTrue(shared != null, "shared/axolotl-corpus is not beside this checkout");
        List<Path> files;
        try (Stream<Path> s = Files.walk(shared.resolve("axolotl-corpus/examples"))) {
            files = s.filter(p -> p.toString().endsWith(".yml") || p.toString().endsWith(".yaml")).sorted().toList();
        }
        assertThat(files).hasSizeGreaterThan(80);
        List<String> bad = new ArrayList<>();
        int loaded = 0;
        for (Path f : files) {
            try {
                ConfigLoader.load(f, Map.of());
                loaded++;
            } catch (ConfigException e) {
                boolean named = e.errors().stream().anyMatch(er -> er.message().contains("unsupported")
                        || er.message().contains("unknown key"));
                if (!named) {
                    bad.add(shared.relativize(f) + " -> " + e.getMessage());
                }
                if (System.getenv("AXOLOTL_CORPUS_VERBOSE") != null) {
                    System.out.println(shared.relativize(f) + " -> " + e.getMessage());
                }
            }
        }
        System.out.println("corpus: " + loaded + " of " + files.size() + " load; the rest name a feature");
        assertThat(bad).as("files failing without naming an unsupported feature").isEmpty();
    }

    @Test
    void upstreamTypoIsReportedWithTheClosestKey() {
        Path shared = SharedFiles.root();
        Assumptions.assumeTrue(shared != null, "shared/axolotl-corpus is not beside this checkout");
        Path f = shared.resolve("axolotl-corpus/examples/falcon-h1/falcon-h1-1b-qlora-cp.yaml");
        try {
            ConfigLoader.load(f, Map.of());
            throw new AssertionError("expected a ConfigException");
        } catch (ConfigException e) {
            assertThat(e.errors()).anySatisfy(er -> {
                assertThat(er.key()).isEqualTo("context_parapllel_size");
                assertThat(er.message()).contains("did you mean 'context_parallel_size'");
            });
        }
    }
}
