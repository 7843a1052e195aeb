package ai.axolotl.cli;

import ai.axolotl.config.ConfigLoader;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The command line as a user meets it: exit codes, one-line errors, overrides, and a short real run. */
class CliTest {
    static final String EXAMPLE = "axolotl-examples/configs/llama-tiny.yml";

    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        System.setOut(o);
        System.setErr(e);
        try {
            int code = AxolotlCli.execute(args, e);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void validatePrintsTheResolvedConfig() {
        Run r = run("validate", EXAMPLE);
        assertThat(r.exit()).isZero();
        assertThat(r.out()).contains("sequence_len: 256").contains("learning_rate: 0.002");
    }

    @Test
    void badKeysExitTwoWithOneLineEachAndNoStackTrace(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("bad.yml");
        Files.writeString(bad, Files.readString(Path.of(EXAMPLE)).replace("learning_rate:", "learnin_rate:")
                + "adapter: lora\npeft_use_dora: true\n");
        Run r = run("validate", bad.toString(), "--micro-batch-size", "zero");
        assertThat(r.exit()).isEqualTo(2);
        List<String> lines = r.err().lines().toList();
        assertThat(lines).contains("error: learnin_rate: unknown key (did you mean 'learning_rate'?)");
        assertThat(lines).anyMatch(l -> l.startsWith("error: peft_use_dora: unsupported feature: DoRA"));
        assertThat(lines).contains("error: lora_r: is required with adapter: lora (a positive rank, e.g. 16)");
        assertThat(lines).contains("error: micro_batch_size: expected an integer, got 'zero'");
        assertThat(r.err()).doesNotContain("\tat ");
        Run debug = run("validate", bad.toString(), "--debug");
        assertThat(debug.exit()).isEqualTo(2);
        assertThat(debug.err()).contains("\tat ");
    }

    @Test
    void malformedYamlNamesLineAndColumn(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("bad.yml");
        Files.writeString(bad, "base_model: x\nsequence_len: [1, 2\n");
        Run r = run("validate", bad.toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().strip()).matches("error: <file>: malformed YAML at .*bad\\.yml:\\d+:\\d+: .*");
    }

    @Test
    void hubModelValidatesWithANoteAndOfflineTrainNamesWhatTheCacheLacks(@TempDir Path dir) throws Exception {
        Path hub = dir.resolve("hub.yml");
        Files.writeString(hub, Files.readString(Path.of(EXAMPLE))
                .replace("base_model: axolotl-examples/models/llama-tiny", "base_model: NousResearch/Llama-3.2-1B"));
        Run v = run("validate", hub.toString());
        assertThat(v.exit()).isZero();
        assertThat(v.err()).contains("note: base_model: NousResearch/Llama-3.2-1B is a Hugging Face Hub id");
        System.setProperty("HF_HUB_OFFLINE", "1");
        System.setProperty("HF_HUB_CACHE", dir.resolve("cache").toString());
        try {
            Run t = run("train", hub.toString(), "--output-dir", dir.resolve("o").toString());
            assertThat(t.exit()).isEqualTo(2);
            assertThat(t.err().strip()).startsWith("error: NousResearch/Llama-3.2-1B@main: HF_HUB_OFFLINE is set and "
                    + "the cache has no snapshot of it").doesNotContain("at ai.axolotl");
        } finally {
            System.clearProperty("HF_HUB_OFFLINE");
            System.clearProperty("HF_HUB_CACHE");
        }
    }

    @Test
    void smokeRunTrainsThenEvaluatesTheExportedModelAndACheckpoint(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        Run t = run("train", EXAMPLE, "--max-steps", "2", "--sequence_len", "64", "--micro_batch_size", "2",
                "--save-steps", "1", "--eval-steps", "2", "--output-dir", out.toString(), "--dataset-prepared-path",
                dir.resolve("prep").toString(), "--threads", "1");
        assertThat(t.exit()).as(t.err()).isZero();
        assertThat(out.resolve("model.safetensors")).exists();
        assertThat(out.resolve("checkpoint-2")).isDirectory();
        assertThat(Files.readAllLines(out.resolve("metrics.jsonl"))).hasSizeGreaterThanOrEqualTo(2);
        Run e = run("evaluate", EXAMPLE, "--checkpoint", out.resolve("checkpoint-1").toString(), "--sequence_len", "64",
                "--dataset-prepared-path", dir.resolve("prep").toString(), "--threads", "1");
        assertThat(e.exit()).as(e.err()).isZero();
        List<String> lines = e.out().lines().toList();
        JsonNode j = new ObjectMapper().readTree(lines.get(lines.size() - 1));
        assertThat(j.get("loss").asDouble()).isBetween(1.0, 7.0);
        assertThat(j.get("tokens").asLong()).isGreaterThan(100_000);
        assertThat(j.get("perplexity").asDouble()).isCloseTo(Math.exp(j.get("loss").asDouble()),
                Offset.offset(0.01));
    }

    /**
     * A LoRA run end to end: a base trained for two steps is frozen under an adapter on every projection; the
     * output and each checkpoint carry PEFT's files (and no full model); evaluate of the adapter config computes
     * base + adapter; merge-lora writes output_dir/merged, whose plain evaluation gives the same loss.
     */
    @Test
    void loraTrainsEvaluatesAndMergesToTheSameLoss(@TempDir Path dir) throws Exception {
        List<String> rows = Files.readAllLines(Path.of("axolotl-examples/data/tiny-corpus.jsonl"));
        Files.write(dir.resolve("small.jsonl"), rows.subList(0, 200));
        String yaml = Files.readString(Path.of(EXAMPLE)).replace("axolotl-examples/data/tiny-corpus.jsonl",
                dir.resolve("small.jsonl").toString()).replace("axolotl-examples/models/llama-tiny",
                Path.of("axolotl-examples/models/llama-tiny").toAbsolutePath().toString());
        Path config = dir.resolve("small.yml");
        Files.writeString(config, yaml);
        String example = config.toString();
        Path base = dir.resolve("base");
        String[] common = {"--sequence_len", "64", "--micro_batch_size", "2", "--dataset-prepared-path",
            dir.resolve("prep").toString(), "--threads", "1"};
        Run b = run(concat(new String[] {"train", example, "--max-steps", "2", "--output-dir", base.toString()},
                common));
        assertThat(b.exit()).as(b.err()).isZero();
        Path out = dir.resolve("lora");
        String[] lora = {"--base_model", base.toString(), "--reinit_weights", "false", "--adapter", "lora",
            "--lora_r", "4", "--lora_alpha", "8", "--lora_target_linear", "true", "--output-dir", out.toString()};
        Run t = run(concat(concat(new String[] {"train", example, "--max-steps", "3", "--save-steps", "3"}, lora),
                common));
        assertThat(t.exit()).as(t.err()).isZero();
        assertThat(t.err()).containsPattern("adapter: lora \\(r 4, 28 projections\\): \\d+ trainable parameters");
        assertThat(out.resolve("adapter_model.safetensors")).exists();
        assertThat(out.resolve("adapter_config.json")).exists();
        assertThat(out.resolve("model.safetensors")).as("an adapter run exports the adapter only").doesNotExist();
        assertThat(out.resolve("checkpoint-3/adapter_model.safetensors")).exists();
        Run e = run(concat(concat(new String[] {"evaluate", example}, lora), common));
        assertThat(e.exit()).as(e.err()).isZero();
        Run m = run(concat(new String[] {"merge-lora", example}, lora));
        assertThat(m.exit()).as(m.err()).isZero();
        assertThat(out.resolve("merged/model.safetensors")).exists();
        Run em = run(concat(new String[] {"evaluate", example, "--checkpoint", out.resolve("merged").toString()},
                common));
        assertThat(em.exit()).as(em.err()).isZero();
        Run eb = run(concat(new String[] {"evaluate", example, "--checkpoint", base.toString()}, common));
        double adapted = lastJson(e.out()).get("loss").asDouble();
        double merged = lastJson(em.out()).get("loss").asDouble();
        assertThat(merged).isCloseTo(adapted, Offset.offset(1e-4));
        assertThat(lastJson(eb.out()).get("loss").asDouble()).as("the adapter moved the loss")
                .isNotCloseTo(adapted, Offset.offset(1e-4));
        Run missing = run("merge-lora", example, "--lora-model-dir", dir.resolve("nowhere").toString());
        assertThat(missing.exit()).isEqualTo(2);
        assertThat(missing.err()).contains("Target directory for LoRA adapter weights does not exist");
    }

    private static JsonNode lastJson(String out) throws Exception {
        List<String> lines = out.lines().toList();
        return new ObjectMapper().readTree(lines.get(lines.size() - 1));
    }

    /**
     * ZeRO-3 from a DeepSpeed file with a validation split: two ranks train, evaluate (through the strategy's
     * gathers), save and export; one process then resumes that 2-rank checkpoint with the same file (it runs the
     * sharded strategy at world 1 and reshards on load) and exports again.
     */
    @Test
    void zeroThreeEvaluatesExportsAndResumesOnOneProcess(@TempDir Path dir) throws Exception {
        Path ds = dir.resolve("zero3.json");
        Files.writeString(ds, "{\"zero_optimization\": {\"stage\": 3, \"overlap_comm\": true, "
                + "\"reduce_bucket_size\": \"auto\", \"stage3_prefetch_bucket_size\": \"auto\", "
                + "\"stage3_param_persistence_threshold\": \"auto\", \"max_live_parameters\": 0}, "
                + "\"bf16\": {\"enabled\": \"auto\"}, \"gradient_accumulation_steps\": \"auto\", "
                + "\"gradient_clipping\": \"auto\", \"train_batch_size\": \"auto\", "
                + "\"train_micro_batch_size_per_gpu\": \"auto\"}");
        Path out = dir.resolve("out");
        String[] common = {"--sequence_len", "64", "--micro_batch_size", "2", "--val_set_size", "0.05",
            "--eval-steps", "2", "--save-steps", "2", "--output-dir", out.toString(), "--deepspeed", ds.toString(),
            "--dataset-prepared-path", dir.resolve("prep").toString(), "--threads", "1"};
        Run two = run(concat(new String[] {"train", EXAMPLE, "--max-steps", "2", "--launcher", "threads",
            "--nproc-per-node", "2"}, common));
        assertThat(two.exit()).as(two.err()).isZero();
        assertThat(out.resolve("checkpoint-2/zero/meta.json")).exists();
        assertThat(out.resolve("model.safetensors")).exists();
        assertThat(Files.readString(out.resolve("metrics.jsonl"))).contains("eval_loss");
        Run one = run(concat(new String[] {"train", EXAMPLE, "--max-steps", "4", "--resume_from_checkpoint",
            out.resolve("checkpoint-2").toString()}, common));
        assertThat(one.exit()).as(one.err()).isZero();
        assertThat(out.resolve("checkpoint-4/zero/meta.json")).exists();
    }

    private static String[] concat(String[] a, String[] b) {
        String[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void migrateConfigRewritesAnFsdpOneFileAsFsdpTwo(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("fsdp1.yml");
        Files.writeString(in, Files.readString(Path.of(EXAMPLE)) + "fsdp:\n  - full_shard\n  - auto_wrap\n"
                + "fsdp_config:\n  fsdp_offload_params: true\n  fsdp_sharding_strategy: SHARD_GRAD_OP\n"
                + "  fsdp_transformer_layer_cls_to_wrap: LlamaDecoderLayer\n  fsdp_use_orig_params: false\n");
        Path out = dir.resolve("fsdp2.yml");
        Run r = run("migrate-config", in.toString(), "-o", out.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("reshard_after_forward: false").contains("dropped fsdp_use_orig_params");
        var migrated = ConfigLoader.load(out, Map.of());
        assertThat(migrated.config().parallel().fsdpVersion()).isEqualTo(2);
        assertThat(migrated.config().parallel().fsdp()).isNull();
        assertThat(migrated.config().parallel().fsdpConfig()).containsEntry("reshard_after_forward", false)
                .containsEntry("offload_params", true).doesNotContainKey("use_orig_params");
        assertThat(migrated.warnings()).noneMatch(w -> w.contains("deprecated"));
    }

    @Test
    void allocatorChoicesAreCheckedBeforeAnyRankStarts() {
        Run r = run("train", EXAMPLE, "--launcher", "local", "--nproc-per-node", "2", "--allocator", "mimalloc");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().lines().toList()).containsExactly("error: --allocator mimalloc: expected auto, jemalloc "
                + "or glibc");
        Run timed = run("bench", "--allocator", "glibc");
        assertThat(timed.exit()).isEqualTo(2);
        assertThat(timed.err()).startsWith("error: --allocator applies to --memory, whose ranks are JVMs it starts");
    }

    @Test
    void benchRefusesStrategiesItDoesNotHave() {
        Run r = run("bench", "--strategy", "cp", "--world", "2");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).startsWith("error: --strategy cp: available strategies are single, ddp, zero1")
                .contains("tp, ddp+tp, fsdp2+tp and zero1+tp .. zero3+tp");
        Run odd = run("bench", "--strategy", "fsdp2+tp", "--world", "3");
        assertThat(odd.exit()).isEqualTo(2);
        assertThat(odd.err()).startsWith("error: --strategy fsdp2+tp is tensor parallel 2 x fsdp2 over world/2");
    }

    static final String CHAT = "axolotl-examples/configs/qwen3-chat.yml";

    static void assumeQwen3Tokenizer() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(Path.of("../shared/tokenizers/qwen3")),
                "shared/tokenizers is not beside this checkout");
    }

    @Test
    void preprocessWritesReadableRowsAndDebugMarksTheTrainedSpans(@TempDir Path dir) throws Exception {
        assumeQwen3Tokenizer();
        Run r = run("preprocess", CHAT, "--debug", "--examples", "1", "--dataset-prepared-path",
                dir.resolve("prep").toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("--- example 0").contains("<|im_start|>assistant\n<think>\n\n</think>\n\n[[")
                .contains("<|im_end|>]]");
        try (var files = Files.list(dir.resolve("prep"))) {
            Path key = files.findFirst().orElseThrow();
            assertThat(key.resolve("examples.bin")).exists();
            List<String> rows = Files.readAllLines(key.resolve("examples.jsonl"));
            assertThat(rows).hasSize(360);
            JsonNode first = new ObjectMapper().readTree(rows.get(0));
            assertThat(first.get("input_ids").size()).isEqualTo(first.get("labels").size());
            assertThat(first.get("labels").get(0).asInt()).as("the role header is never trained").isEqualTo(-100);
        }
    }

    @Test
    void theChatExampleTrainsOnAssistantTokensAndExportsItsTemplate(@TempDir Path dir) throws Exception {
        assumeQwen3Tokenizer();
        Path out = dir.resolve("out");
        Run t = run("train", CHAT, "--max-steps", "2", "--eval-steps", "2", "--save-steps", "2", "--output-dir",
                out.toString(), "--dataset-prepared-path", dir.resolve("prep").toString(), "--threads", "1");
        assertThat(t.exit()).as(t.err()).isZero();
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("tokenizer_config.json").toFile());
        assertThat(cfg.get("chat_template").asText()).contains("<think>");
        assertThat(out.resolve("tokenizer.json")).exists();
    }

    @Test
    void aParquetCopyOfTheChatDataPreparesToTheSameTokens(@TempDir Path dir) throws Exception {
        assumeQwen3Tokenizer();
        Path parquet = dir.resolve("train-00000-of-00001.parquet");
        try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:duckdb:");
             java.sql.Statement s = c.createStatement()) {
            s.execute("COPY (SELECT * FROM read_json_auto('axolotl-examples/data/tiny-chat.jsonl')) TO '" + parquet
                    + "' (FORMAT PARQUET)");
        }
        Path config = dir.resolve("parquet.yml");
        Files.writeString(config, Files.readString(Path.of(CHAT))
                .replace("path: axolotl-examples/data/tiny-chat.jsonl", "path: " + parquet));
        Run fromJsonl = run("preprocess", CHAT, "--dataset-prepared-path", dir.resolve("a").toString());
        Run fromParquet = run("preprocess", config.toString(), "--dataset-prepared-path", dir.resolve("b").toString());
        assertThat(fromParquet.exit()).as(fromParquet.err()).isZero();
        assertThat(fromJsonl.exit()).as(fromJsonl.err()).isZero();
        assertThat(rowsOf(dir.resolve("b"))).isEqualTo(rowsOf(dir.resolve("a")));
    }

    private static List<String> rowsOf(Path prepared) throws Exception {
        try (var files = Files.list(prepared)) {
            return Files.readAllLines(files.findFirst().orElseThrow().resolve("examples.jsonl"));
        }
    }
}
