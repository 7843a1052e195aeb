package ai.axolotl.testing;

import ai.axolotl.model.ModelConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Writes a tiny model directory and a small text corpus for end-to-end tests. */
public final class TinyRun {
    /** A model just big enough for the byte tokenizer (vocab 259). */
    public static final ModelConfig CONFIG = ModelConfig.llama(264, 32, 64, 2, 4, 2, 512, 1e-5, 10000, false,
            "float32");

    private TinyRun() {}

    /** Writes {@code dir/model/config.json} and {@code dir/data.jsonl}; returns dir. */
    public static Path write(Path dir, int rows) throws IOException {
        return write(dir, rows, CONFIG);
    }

    /** As {@link #write(Path, int)} with another model shape. */
    public static Path write(Path dir, int rows, ModelConfig config) throws IOException {
        Files.createDirectories(dir.resolve("model"));
        config.write(dir.resolve("model/config.json"));
        Random r = new Random(1);
        String[] names = {"Ada", "Bo", "Cy", "Di", "Eve"};
        String[] things = {"apples", "books", "cats", "drums", "eggs"};
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            int a = r.nextInt(10);
            int b = r.nextInt(10);
            String text = names[r.nextInt(names.length)] + " has " + a + " " + things[r.nextInt(things.length)]
                    + " and " + b + " more, so " + (a + b) + " in all.";
            lines.add("{\"text\": \"" + text + "\"}");
        }
        Files.write(dir.resolve("data.jsonl"), lines);
        return dir;
    }

    /**
     * A YAML config over the files of {@link #write}, with extra lines appended; a top-level key in {@code extra}
     * replaces the base's line (a key given twice is an error).
     */
    public static String yaml(Path dir, String extra) {
        StringBuilder kept = new StringBuilder();
        for (String line : base(dir).split("\n", -1)) {
            String key = line.contains(":") && !line.startsWith(" ") ? line.substring(0, line.indexOf(':')) : null;
            if (key == null || !extra.matches("(?s)(.*\n)?" + java.util.regex.Pattern.quote(key) + ":.*")) {
                kept.append(line).append(line.isEmpty() ? "" : "\n");
            }
        }
        return kept + extra;
    }

    private static String base(Path dir) {
        return "base_model: " + dir.resolve("model") + "\n"
                + "reinit_weights: true\n"
                + "datasets:\n"
                + "  - path: " + dir.resolve("data.jsonl") + "\n"
                + "    type: completion\n"
                + "sequence_len: 64\n"
                + "sample_packing: true\n"
                + "micro_batch_size: 2\n"
                + "gradient_accumulation_steps: 2\n"
                + "learning_rate: 0.003\n"
                + "lr_scheduler: cosine\n"
                + "warmup_steps: 2\n"
                + "optimizer: adamw_torch\n"
                + "weight_decay: 0.01\n"
                + "seed: 7\n"
                + "output_dir: " + dir.resolve("out") + "\n"
                + "logging_steps: 1\n";
    }
}
