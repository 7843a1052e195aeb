package ai.axolotl.cli;

import ai.axolotl.config.ConfigLoader;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.Trainer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code axolotl train CONFIG.yml [--key value ...]}. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train as the config says; any config key can be overridden with --key value.")
final class TrainCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger("axolotl");

    @Parameters(index = "0", paramLabel = "CONFIG.yml", description = "Axolotl-style YAML config")
    Path config;

    @Option(names = "--threads", description = "libtorch intra-op threads (default: half the cores, at least 1)")
    int threads;

    @Unmatched
    List<String> overrides;

    @Override
    public Integer call() {
        ConfigLoader.Loaded loaded = ConfigLoader.load(config, ConfigOverrides.parse(overrides));
        loaded.warnings().forEach(w -> LOG.warn(w));
        int n = threads > 0 ? threads : Threads.defaultCount();
        try (Trainer trainer = new Trainer(loaded.config(), new SingleProcessStrategy(), List.of(), n)) {
            Thread hook = new Thread(trainer::stop);
            Runtime.getRuntime().addShutdownHook(hook);
            TrainResult r = trainer.fit();
            LOG.info("done: {} steps, final loss {}, model in {}", r.steps(),
                    String.format("%.4f", r.finalLoss()), r.outputDir());
            return r.stoppedEarly() ? AxolotlCli.EXIT_FAILURE : 0;
        }
    }
}
