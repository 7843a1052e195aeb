package ai.axolotl.cli;

import ai.axolotl.config.ConfigLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code axolotl validate CONFIG.yml}: checks keys, types, values and rules without loading weights or data. */
@Command(name = "validate", mixinStandardHelpOptions = true,
        description = "Check a config (keys, types, values, rules) and print it resolved; loads no weights or data.")
final class ValidateCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CONFIG.yml", description = "Axolotl-style YAML config")
    Path config;

    @Unmatched
    List<String> overrides;

    @Override
    public Integer call() {
        ConfigLoader.Loaded loaded = ConfigLoader.load(config, ConfigOverrides.parse(overrides));
        for (String w : loaded.warnings()) {
            System.err.println("warning: " + w);
        }
        for (String w : ConfigLoader.unresolvedReferences(loaded.config())) {
            System.err.println("warning: " + w + " (train will fail on it)");
        }
        for (String h : ConfigLoader.hubReferences(loaded.config())) {
            System.err.println("note: " + h + " is a Hugging Face Hub id: read from the Hugging Face cache, or "
                    + "downloaded there (HF_ENDPOINT, HF_TOKEN), when a run starts");
        }
        System.out.print(ConfigLoader.toYaml(loaded.config()));
        System.err.println("ok: " + config + " is valid");
        return 0;
    }
}
