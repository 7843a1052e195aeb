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
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every Axolotl example YAML either validates or fails naming what it needs (an unsupported feature, a key that
 * cannot act here, or an unknown key), and the outcome of each file is the one recorded in the checked-in table
 * {@code src/test/resources/corpus-outcomes.tsv}, so a change in behaviour shows in review. After an intended
 * change, copy {@code target/corpus-outcomes.actual.tsv} (written by every run) over the table.
 */
class CorpusWalkTest {
    static final Path TABLE = Path.of("src/test/resources/corpus-outcomes.tsv");
    static final Path ACTUAL = Path.of("target/corpus-outcomes.actual.tsv");

    @Test
    void everyCorpusExampleHasItsRecordedOutcome() throws IOException {
        Path shared = SharedFiles.root();
        Assumptions.assumeTrue(shared != null, "shared/axolotl-corpus is not beside this checkout");
        List<Path> files;
        try (Stream<Path> s = Files.walk(shared.resolve("axolotl-corpus/examples"))) {
            files = s.filter(p -> p.toString().endsWith(".yml") || p.toString().endsWith(".yaml")).sorted().toList();
        }
        assertThat(files).hasSizeGreaterThan(80);
        List<String> bad = new ArrayList<>();
        List<String> table = new ArrayList<>();
        int loaded = 0;
        for (Path f : files) {
            String name = shared.resolve("axolotl-corpus").relativize(f).toString();
            try {
                ConfigLoader.load(f, Map.of());
                loaded++;
                table.add(name + "\tloads");
            } catch (ConfigException e) {
                boolean named = e.errors().stream().anyMatch(er -> er.message().contains("unsupported")
                        || er.message().contains("unknown key") || er.message().contains("not available"));
                if (!named) {
                    bad.add(name + " -> " + e.getMessage());
                }
                table.add(name + "\t" + outcome(e.errors()));
            }
        }
        Files.createDirectories(ACTUAL.getParent());
        Files.write(ACTUAL, table);
        System.out.println("corpus: " + loaded + " of " + files.size() + " load; the rest name what they need");
        assertThat(bad).as("files failing without naming what they need").isEmpty();
        assertThat(table).as("outcomes against " + TABLE + " (the run's own: " + ACTUAL + ")")
                .containsExactlyElementsOf(Files.readAllLines(TABLE));
    }

    /** A file's outcome class: each refused key with the feature or the reason, sorted. */
    static String outcome(List<ConfigError> errors) {
        TreeSet<String> parts = new TreeSet<>();
        for (ConfigError e : errors) {
            String m = e.message();
            String why;
            int feature = m.indexOf("unsupported feature: ");
            if (feature >= 0) {
                String rest = m.substring(feature + "unsupported feature: ".length());
                why = "unsupported: " + (rest.contains(" (") ? rest.substring(0, rest.indexOf(" (")) : rest);
            } else if (m.startsWith("unknown")) {
                why = "unknown key";
            } else {
                why = m.split("[;(]")[0].trim();
            }
            parts.add(e.key() + " = " + why);
        }
        return "refused\t" + String.join(" | ", parts);
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
