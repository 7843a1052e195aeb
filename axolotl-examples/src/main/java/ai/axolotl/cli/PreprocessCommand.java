package ai.axolotl.cli;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.data.Example;
import ai.axolotl.data.TokenizedDataset;
import ai.axolotl.data.Tokenizer;
import ai.axolotl.data.Tokenizers;
import ai.axolotl.model.ModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code axolotl preprocess CONFIG.yml}: tokenizes the config's datasets into the prepared cache under
 * {@code dataset_prepared_path} (default {@code last_run_prepared}, as Axolotl) without training, and writes
 * the rows readably beside it as {@code examples.jsonl}. With {@code --debug}, prints the first examples with
 * their trained spans marked.
 */
@Command(name = "preprocess", mixinStandardHelpOptions = true,
        description = "Tokenize and cache the datasets without training; write <dataset_prepared_path>/<key>/"
                + "examples.jsonl ({\"input_ids\", \"labels\"} per example). --debug prints the first examples with "
                + "trained spans in [[...]].")
final class PreprocessCommand implements Callable<Integer> {
    /** Axolotl's default {@code dataset_prepared_path}. */
    static final String DEFAULT_PREPARED = "last_run_prepared";

    @Parameters(index = "0", paramLabel = "CONFIG.yml", description = "Axolotl-style YAML config")
    Path config;

    @Option(names = "--examples", paramLabel = "N", description = "examples --debug prints (default 3)")
    int examples = 3;

    @ParentCommand
    AxolotlCli parent;

    @Unmatched
    List<String> overrides;

    @Override
    public Integer call() {
        ConfigLoader.Loaded loaded = ConfigLoader.load(config, ConfigOverrides.parse(overrides));
        for (String w : loaded.warnings()) {
            System.err.println("warning: " + w);
        }
        AxolotlConfig c = loaded.config();
        c = ai.axolotl.hub.HubResolver.resolveFromEnvironment(c, System.err::println);
        if (c.data().datasetPreparedPath() == null) {
            c = c.withData(c.data().withDatasetPreparedPath(DEFAULT_PREPARED));
        }
        Tokenizer tokenizer = Tokenizers.forConfig(c);
        Path configJson = Path.of(c.model().baseModel()).resolve("config.json");
        int vocab = Files.isRegularFile(configJson) ? ModelConfig.read(configJson).vocabSize()
                : tokenizer.vocabSize();
        TokenizedDataset ds = TokenizedDataset.load(c, tokenizer, vocab);
        Path dir = TokenizedDataset.cacheDir(c, tokenizer);
        Path rows = dir.resolve("examples.jsonl");
        ds.writeJsonLines(rows);
        if (parent != null && parent.debug) {
            List<Example> all = ds.examples();
            for (int i = 0; i < Math.min(examples, all.size()); i++) {
                Example e = all.get(i);
                System.out.println("--- example " + i + " (" + e.length() + " tokens; trained spans in [[...]])");
                System.out.println(TokenizedDataset.marked(e, tokenizer));
            }
            System.out.println("---");
        }
        System.out.println("prepared " + ds.examples().size() + " examples, " + ds.tokenCount() + " tokens ("
                + ds.trainedTokenCount() + " trained on) in " + dir + " (examples.bin for training, examples.jsonl "
                + "to read)");
        if (tokenizer instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        return 0;
    }
}
