package ai.axolotl.bench;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.distributed.launch.RankAllocator;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.train.Checkpoints;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code axolotl bench --memory}: each strategy trained at accumulation 1 and 8 with every rank as its own JVM
 * (the local launcher), each rank reporting its peak resident set (VmHWM after the last step) and its probe's peak
 * model state and gathered bytes, read from the tensors held ({@link ai.axolotl.train.MemoryReport}). Reported next to the ZeRO
 * formula's model state, so that what is measured can be read against what the design promises.
 */
public final class MemoryBenchmark {
    /** Strategies measured, data parallel first (the others are compared with it). */
    static final List<String> STRATEGIES = List.of("ddp", "zero1", "zero2", "zero3", "fsdp2");
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String shape;
    private final int steps;
    private final int world;
    private final int threads;
    private final int seqLen;
    private final int microBatch;
    private final List<Integer> accumulations;
    private final RankAllocator allocator;

    /**
     * @param shape llama-tiny or llama-small
     * @param steps optimizer steps per run
     * @param world ranks (JVMs)
     * @param threads intra-op threads per rank
     * @param seqLen tokens per row
     * @param microBatch rows per micro-batch
     * @param accumulations gradient accumulation steps to compare (e.g. 1 and 8)
     * @param allocator the C allocator of the rank JVMs
     */
    public MemoryBenchmark(String shape, int steps, int world, int threads, int seqLen, int microBatch,
                           List<Integer> accumulations, RankAllocator allocator) {
        this.allocator = allocator;
        this.shape = shape;
        this.steps = steps;
        this.world = world;
        this.threads = threads;
        this.seqLen = seqLen;
        this.microBatch = microBatch;
        this.accumulations = List.copyOf(accumulations);
    }

    /** Runs every strategy at every accumulation; returns the JSON line. */
    public String run() throws IOException, InterruptedException {
        ModelConfig config = ModelConfig.shape(shape);
        long params;
        try (CausalLm m = DecoderModel.placeholder(config)) {
            params = m.parameterCount();
        }
        Path dir = Files.createTempDirectory("axolotl-bench-memory");
        try {
            Files.createDirectories(dir.resolve("model"));
            config.write(dir.resolve("model/config.json"));
            int maxAcc = accumulations.stream().mapToInt(Integer::intValue).max().orElse(1);
            TrainerBenchmark.writeRows(dir.resolve("data.jsonl"),
                    TrainerBenchmark.randomRows(config.vocabSize(), steps * microBatch * maxAcc * world, seqLen));
            Map<String, Object> runs = new LinkedHashMap<>();
            Map<String, Long> ddpRss = new LinkedHashMap<>();
            for (String strategy : STRATEGIES) {
                Map<String, Object> byAcc = new LinkedHashMap<>();
                for (int acc : accumulations) {
                    List<Map<String, Object>> ranks = trainRanks(dir, strategy, acc);
                    long maxRss = ranks.stream().mapToLong(r -> ((Number) r.get("peak_rss_bytes")).longValue())
                            .max().orElse(-1);
                    Map<String, Object> entry = new LinkedHashMap<>();
                    entry.put("ranks", ranks);
                    entry.put("max_peak_rss_mib", maxRss >> 20);
                    if (strategy.equals("ddp")) {
                        ddpRss.put("acc" + acc, maxRss);
                    } else if (ddpRss.containsKey("acc" + acc)) {
                        long below = ddpRss.get("acc" + acc) - maxRss;
                        entry.put("rss_below_ddp_mib", below >> 20);
                        entry.put("rss_below_ddp_bytes_per_param", Math.round(below * 100.0 / params) / 100.0);
                    }
                    byAcc.put("acc" + acc, entry);
                }
                if (accumulations.size() > 1) {
                    long first = rssOf(byAcc, "acc" + accumulations.get(0));
                    long last = rssOf(byAcc, "acc" + accumulations.get(accumulations.size() - 1));
                    byAcc.put("rss_ratio_last_vs_first_accumulation", Math.round(last * 1000.0 / first) / 1000.0);
                }
                byAcc.put("formula_model_state_bytes", Math.round(formulaBytesPerParam(strategy) * params));
                runs.put(strategy, byAcc);
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("shape", shape);
            out.put("params", params);
            out.put("world", world);
            out.put("seq_len", seqLen);
            out.put("micro_batch", microBatch);
            out.put("steps", steps);
            out.put("accumulations", accumulations);
            out.put("allocator", allocator.describe());
            out.put("strategies", runs);
            return JSON.writeValueAsString(out);
        } finally {
            Checkpoints.deleteTree(dir);
        }
    }

    private static long rssOf(Map<String, Object> byAcc, String key) {
        @SuppressWarnings("unchecked")
        Map<String, Object> e = (Map<String, Object>) byAcc.get(key);
        return ((Number) e.get("max_peak_rss_mib")).longValue();
    }

    /** The ZeRO paper's model-state bytes per parameter (fp32 Adam) for a strategy at this world size. */
    double formulaBytesPerParam(String strategy) {
        double n = world;
        return switch (strategy) {
            case "zero1" -> 4 + 4 + 8 / n;
            case "zero2" -> 4 + 12 / n;
            case "zero3", "fsdp2" -> 16 / n;
            default -> 16;
        };
    }

    private List<Map<String, Object>> trainRanks(Path dir, String strategy, int acc)
            throws IOException, InterruptedException {
        String name = strategy + "-acc" + acc;
        Path yml = dir.resolve(name + ".yml");
        Files.writeString(yml, yaml(dir, strategy, acc, dir.resolve("out-" + name)));
        return RankJvms.train(yml, world, threads, allocator, dir.resolve("report-" + name));
    }

    private String yaml(Path dir, String strategy, int acc, Path out) {
        String parallel = switch (strategy) {
            case "zero1", "zero2", "zero3" -> "deepspeed:\n  zero_optimization:\n    stage: " + strategy.charAt(4)
                    + "\n    overlap_comm: true\n";
            case "fsdp2" -> "fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: true\n"; // wrap: the model's
            default -> "";
        };
        return "base_model: " + dir.resolve("model") + "\nreinit_weights: true\ndatasets:\n  - path: "
                + dir.resolve("data.jsonl") + "\nsequence_len: " + seqLen + "\nmicro_batch_size: " + microBatch
                + "\ngradient_accumulation_steps: " + acc + "\nmax_steps: " + steps + "\nlearning_rate: 0.0003\n"
                + "optimizer: adamw_torch\nlr_scheduler: constant\nsave_strategy: 'no'\noutput_dir: " + out + "\n"
                + parallel;
    }
}
