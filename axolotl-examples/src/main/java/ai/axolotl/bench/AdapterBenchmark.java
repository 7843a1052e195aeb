package ai.axolotl.bench;

import ai.axolotl.distributed.launch.RankAllocator;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.DType;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.train.Checkpoints;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code axolotl bench --adapters}: a full fine-tune, LoRA (r 16 on every linear projection) and QLoRA (the same
 * adapter over the NF4 base) of one shape, in one process and under FSDP2 at world 2, every rank its own JVM
 * (the local launcher). Each run reports, from the rank itself: peak resident set (VmHWM), the trainable
 * model state held (parameters, gradients, AdamW moments, from the strategy's tensors), the frozen base held
 * (full-precision tensors plus the NF4 codes and absmax) and the median step time after the first three steps.
 * The modes alternate within each round and the medians over rounds are reported, so a noisy machine affects them
 * alike.
 */
public final class AdapterBenchmark {
    static final List<String> MODES = List.of("full", "lora", "qlora");
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String shape;
    private final int steps;
    private final int threads;
    private final int seqLen;
    private final int microBatch;
    private final int rounds;
    private final RankAllocator allocator;

    /**
     * @param shape llama-tiny or llama-small
     * @param steps optimizer steps per run
     * @param threads intra-op threads per rank
     * @param seqLen tokens per row
     * @param microBatch rows per micro-batch
     * @param rounds alternated rounds (medians reported)
     * @param allocator the C allocator of the rank JVMs
     */
    public AdapterBenchmark(String shape, int steps, int threads, int seqLen, int microBatch, int rounds,
                            RankAllocator allocator) {
        this.shape = shape;
        this.steps = steps;
        this.threads = threads;
        this.seqLen = seqLen;
        this.microBatch = microBatch;
        this.rounds = rounds;
        this.allocator = allocator;
    }

    /** Runs every mode at world 1 and 2 for each round; returns the JSON line (medians per mode and world). */
    public String run(PrintStream progress) throws IOException, InterruptedException {
        ModelConfig config = ModelConfig.shape(shape);
        Path dir = Files.createTempDirectory("axolotl-bench-adapters");
        try {
            try (DecoderModel m = DecoderModel.initialise(config, 1)) { // a base with weights: LoRA loads it
                HfCheckpoint.save(dir.resolve("model"), config, m.parameters(), DType.F32, Long.MAX_VALUE);
            }
            TrainerBenchmark.writeRows(dir.resolve("data.jsonl"),
                    TrainerBenchmark.randomRows(config.vocabSize(), steps * microBatch * 2, seqLen));
            Map<String, List<Map<String, Object>>> samples = new LinkedHashMap<>();
            for (int round = 0; round < rounds; round++) {
                for (int world : new int[] {1, 2}) {
                    for (String mode : MODES) {
                        String key = mode + "@" + world;
                        progress.println("round " + (round + 1) + ": " + key);
                        samples.computeIfAbsent(key, k -> new ArrayList<>()).add(runOnce(dir, mode, world, round));
                    }
                }
            }
            Map<String, Object> runs = new LinkedHashMap<>();
            for (Map.Entry<String, List<Map<String, Object>>> e : samples.entrySet()) {
                Map<String, Object> r = new LinkedHashMap<>();
                for (String field : List.of("max_peak_rss_mib", "trainable_parameters", "model_state_bytes",
                        "frozen_base_bytes", "median_step_ms")) {
                    List<Double> v = new ArrayList<>();
                    for (Map<String, Object> s : e.getValue()) {
                        v.add(((Number) s.getOrDefault(field, 0)).doubleValue());
                    }
                    v.sort(Double::compare);
                    r.put(field, v.get(v.size() / 2));
                }
                runs.put(e.getKey(), r);
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("shape", shape);
            out.put("steps", steps);
            out.put("seq_len", seqLen);
            out.put("micro_batch", microBatch);
            out.put("threads_per_rank", threads);
            out.put("rounds", rounds);
            out.put("allocator", allocator.describe());
            out.put("runs", runs);
            return JSON.writeValueAsString(out);
        } finally {
            Checkpoints.deleteTree(dir);
        }
    }

    private Map<String, Object> runOnce(Path dir, String mode, int world, int round)
            throws IOException, InterruptedException {
        String name = mode + "-w" + world + "-r" + round;
        Path yml = dir.resolve(name + ".yml");
        Files.writeString(yml, yaml(dir, mode, world, dir.resolve("out-" + name)));
        List<Map<String, Object>> ranks = RankJvms.train(yml, world, threads, allocator,
                dir.resolve("report-" + name));
        Map<String, Object> summary = new LinkedHashMap<>(); // rank 0's report, the largest RSS of all
        long maxRss = 0;
        for (Map<String, Object> m : ranks) {
            maxRss = Math.max(maxRss, ((Number) m.get("peak_rss_bytes")).longValue());
        }
        summary.putAll(ranks.get(0));
        summary.put("max_peak_rss_mib", maxRss >> 20);
        return summary;
    }

    private String yaml(Path dir, String mode, int world, Path out) {
        String adapter = switch (mode) {
            case "lora" -> "adapter: lora\nlora_r: 16\nlora_alpha: 32\nlora_target_linear: true\n"
                    + "gradient_checkpointing: true\n";
            case "qlora" -> "adapter: qlora\nload_in_4bit: true\nlora_r: 16\nlora_alpha: 32\n"
                    + "lora_target_linear: true\ngradient_checkpointing: true\n";
            default -> "gradient_checkpointing: true\n";
        };
        String parallel = world > 1 ? "fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: true\n" : "";
        return "base_model: " + dir.resolve("model") + "\ndatasets:\n  - path: " + dir.resolve("data.jsonl")
                + "\nsequence_len: " + seqLen + "\nmicro_batch_size: " + microBatch / world
                + "\ngradient_accumulation_steps: 1\nmax_steps: " + steps + "\nlearning_rate: 0.0003\n"
                + "optimizer: adamw_torch\nlr_scheduler: constant\nsave_strategy: 'no'\noutput_dir: " + out + "\n"
                + adapter + parallel;
    }
}
