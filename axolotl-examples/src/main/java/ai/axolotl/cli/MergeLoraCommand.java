package ai.axolotl.cli;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.hub.HubResolver;
import ai.axolotl.model.adapter.LoraMerge;
import ai.axolotl.model.adapter.PeftFiles;
import ai.axolotl.runtime.Natives;
import ai.axolotl.train.TrainingException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code axolotl merge-lora CONFIG.yml [--lora-model-dir DIR]}: the config's base model with a LoRA adapter folded in,
 * written to {@code <output_dir>/merged} as Axolotl writes it (one tensor at a time, in the base's dtype; a QLoRA
 * adapter's weights round-tripped through NF4 first).
 */
@Command(name = "merge-lora", mixinStandardHelpOptions = true,
        description = "Merge a LoRA adapter into the config's base_model and write <output_dir>/merged.")
final class MergeLoraCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CONFIG.yml", description = "the Axolotl-style config the adapter was trained with")
    Path config;

    @Option(names = "--lora-model-dir", paramLabel = "DIR",
            description = "the adapter's directory (default: the config's lora_model_dir, else its output_dir)")
    Path loraModelDir;

    @Unmatched
    List<String> overrides;

    @Override
    public Integer call() throws Exception {
        ConfigLoader.Loaded loaded = ConfigLoader.load(config, ConfigOverrides.parse(overrides));
        AxolotlConfig c = HubResolver.resolveFromEnvironment(loaded.config(), System.err::println);
        Path out = Path.of(c.checkpoint().outputDir());
        Path dir = loraModelDir != null ? loraModelDir : c.model().adapter().loraModelDir() != null
                ? Path.of(c.model().adapter().loraModelDir()) : out;
        if (!Files.isDirectory(dir)) {
            throw new TrainingException("Target directory for LoRA adapter weights does not exist: " + dir);
        }
        if (!Files.isRegularFile(dir.resolve(PeftFiles.CONFIG))) {
            throw new TrainingException(dir + ": no " + PeftFiles.CONFIG + " (not a PEFT adapter directory)");
        }
        Natives.load();
        Path merged = out.resolve("merged");
        LoraMerge.merge(Path.of(c.model().baseModel()), dir, c.model().adapter().quantizedBase(), merged,
                System.err::println);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                "chat_template.jinja", "generation_config.json")) {
            Path from = Files.isRegularFile(dir.resolve(f)) ? dir.resolve(f) : Path.of(c.model().baseModel()).resolve(f);
            if (Files.isRegularFile(from)) {
                Files.copy(from, merged.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        System.err.println("ok: wrote " + merged);
        return 0;
    }
}
