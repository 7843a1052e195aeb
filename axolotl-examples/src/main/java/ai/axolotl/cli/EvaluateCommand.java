package ai.axolotl.cli;

import ai.axolotl.config.ConfigLoader;
import ai.axolotl.train.EvalResult;
import ai.axolotl.train.Evaluation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code axolotl evaluate CONFIG.yml [--checkpoint DIR]}: loss over every label token of the datasets. */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Print, as the last line, JSON {\"loss\", \"tokens\", \"perplexity\"} of a model over all label "
                + "tokens of the config's datasets.")
final class EvaluateCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CONFIG.yml", description = "Axolotl-style YAML config")
    Path config;

    @Option(names = "--checkpoint", paramLabel = "DIR",
            description = "an exported model or a checkpoint-<step> directory (default: the config's output_dir)")
    Path checkpoint;

    @Option(names = "--threads", description = "libtorch intra-op threads (default: half the cores, at least 1)")
    int threads;

    @Unmatched
    List<String> overrides;

    @Override
    public Integer call() {
        ConfigLoader.Loaded loaded = ConfigLoader.load(config, ConfigOverrides.parse(overrides));
        int n = threads > 0 ? threads : Threads.defaultCount();
        EvalResult r = Evaluation.evaluateConfig(loaded.config(), checkpoint, n);
        System.out.println(r.toJson());
        return 0;
    }
}
