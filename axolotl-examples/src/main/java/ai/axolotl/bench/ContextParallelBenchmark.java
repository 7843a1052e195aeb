package ai.axolotl.bench;

import ai.axolotl.distributed.launch.RankAllocator;
import ai.axolotl.model.ModelConfig;
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
 * {@code axolotl bench --context-parallel}: one process against context parallel 2 on the same rows (micro batch
 * 1, long sequences), every rank its own JVM (the local launcher); the order alternates within each round. Each run
 * reports, from the ranks themselves: peak resident set (VmHWM) and the activation part of it, the median step time,
 * tokens/s per rank, and under cp the key/value collectives counted as they ran. The activation part is a run's peak
 * RSS minus the peak RSS of the same run at 128 tokens (same model, optimizer, JVM and libraries: what does not
 * grow with the sequence); it is printed next to the prediction {@code A_cp = A_1 / cp + G}, G what attention saves
 * per layer beyond a 1/cp share: the gathered keys and values of the whole row and the copies of them the busiest
 * rank's trimmed chunks select ({@code (2cp + 1) / 2cp} of the row), kv heads only (the CPU kernel shares them with
 * the query heads): {@code L x T x (1 + (2cp + 1) / 2cp) x 2 x head_dim x kv_heads x 4 bytes}.
 */
public final class ContextParallelBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BASELINE_TOKENS = 128;
    private final String shape;
    private final List<Integer> seqLens;
    private final int steps;
    private final int threads;
    private final int rounds;
    private final RankAllocator allocator;

    /**
     * @param shape llama-tiny or llama-small
     * @param seqLens tokens per row, each measured
     * @param steps optimizer steps per run
     * @param threads intra-op threads of the one process; each cp rank gets half (so both use the same cores)
     * @param rounds alternated rounds (medians reported)
     * @param allocator the C allocator of the rank JVMs
     */
    public ContextParallelBenchmark(String shape, List<Integer> seqLens, int steps, int threads, int rounds,
                                    RankAllocator allocator) {
        this.shape = shape;
        this.seqLens = List.copyOf(seqLens);
        this.steps = steps;
        this.threads = threads;
        this.rounds = rounds;
        this.allocator = allocator;
    }

    /** Runs every length, one process and cp 2, each round; returns the JSON line. */
    public String run(PrintStream progress) throws IOException, InterruptedException {
        ModelConfig config = ModelConfig.shape(shape);
        Path dir = Files.createTempDirectory("axolotl-bench-cp");
        try {
            Files.createDirectories(dir.resolve("model"));
            config.write(dir.resolve("model/config.json"));
            Map<String, List<Map<String, Object>>> samples = new LinkedHashMap<>();
            List<Integer> lengths = new ArrayList<>(List.of(BASELINE_TOKENS));
            lengths.addAll(seqLens);
            for (int t : lengths) {
                TrainerBenchmark.writeRows(dir.resolve("data-" + t + ".jsonl"),
                        TrainerBenchmark.randomRows(config.vocabSize(), steps + 2, t));
            }
            for (int round = 0; round < rounds; round++) {
                for (int t : lengths) {
                    List<Integer> order = round % 2 == 0 ? List.of(1, 2) : List.of(2, 1);
                    for (int cp : order) {
                        String key = (cp == 1 ? "single" : "cp2") + "@" + t;
                        progress.println("round " + (round + 1) + ": " + key);
                        samples.computeIfAbsent(key, k -> new ArrayList<>()).add(runOnce(dir, config, t, cp, round));
                    }
                }
            }
            Map<String, Object> runs = new LinkedHashMap<>();
            for (int t : seqLens) {
                Map<String, Object> single = medians(samples.get("single@" + t));
                Map<String, Object> cp = medians(samples.get("cp2@" + t));
                double a1 = mib(single) - mib(medians(samples.get("single@" + BASELINE_TOKENS)));
                double a2 = mib(cp) - mib(medians(samples.get("cp2@" + BASELINE_TOKENS)));
                double g = gatheredMib(config, t, 2);
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("single", single);
                r.put("cp2", cp);
                r.put("activation_mib_single", Math.round(a1));
                r.put("activation_mib_cp2_per_rank", Math.round(a2));
                r.put("activation_ratio", round3(a2 / a1));
                r.put("predicted_mib_cp2", Math.round(a1 / 2 + g));
                r.put("predicted_ratio", round3((a1 / 2 + g) / a1));
                r.put("gathered_kv_mib_G", Math.round(g));
                r.put("tokens_per_s_single", round3(t / (((Number) single.get("median_step_ms")).doubleValue()
                        / 1000)));
                r.put("tokens_per_s_per_cp_rank", round3(t / 2.0 / (((Number) cp.get("median_step_ms"))
                        .doubleValue() / 1000)));
                // one process: every query against every key of the row (masked); a cp rank: each of its two
                // chunks against only the keys up to its end, (2cp + 1) / 4cp of its dense t/2 x t
                r.put("attention_pairs_per_layer_head_single", (long) t * t);
                r.put("attention_pairs_per_layer_head_per_cp_rank_dense", (long) t / 2 * t);
                r.put("attention_pairs_per_layer_head_per_cp_rank", (long) t / 2 * t * 5 / 8);
                r.put("kv_elements_per_gather_analytic", (long) t * 2 * config.numKeyValueHeads() * config.headDim());
                runs.put(Integer.toString(t), r);
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("shape", shape);
            out.put("steps", steps);
            out.put("micro_batch", 1);
            out.put("threads_single", threads);
            out.put("threads_per_cp_rank", Math.max(1, threads / 2));
            out.put("rounds", rounds);
            out.put("allocator", allocator.describe());
            out.put("runs", runs);
            return JSON.writeValueAsString(out);
        } finally {
            Checkpoints.deleteTree(dir);
        }
    }

    /**
     * G in MiB: per layer the gathered keys and values of the row (kv heads, fp32) and the busiest rank's trimmed
     * copies of them ({@code (2cp + 1) / 2cp} of the row).
     */
    static double gatheredMib(ModelConfig c, int tokens, int cp) {
        double perToken = 2.0 * c.headDim() * c.numKeyValueHeads() * 4 * (1 + (2.0 * cp + 1) / (2.0 * cp));
        return c.numHiddenLayers() * tokens * perToken / (1 << 20);
    }

    private static double mib(Map<String, Object> m) {
        return ((Number) m.get("max_peak_rss_mib")).doubleValue();
    }

    private static double round3(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static Map<String, Object> medians(List<Map<String, Object>> samples) {
        Map<String, Object> r = new LinkedHashMap<>();
        for (String field : samples.get(0).keySet()) {
            if (!(samples.get(0).get(field) instanceof Number)) {
                continue;
            }
            List<Double> v = new ArrayList<>();
            for (Map<String, Object> s : samples) {
                v.add(((Number) s.get(field)).doubleValue());
            }
            v.sort(Double::compare);
            r.put(field, v.get(v.size() / 2));
        }
        return r;
    }

    private Map<String, Object> runOnce(Path dir, ModelConfig config, int tokens, int cp, int round)
            throws IOException, InterruptedException {
        String name = "t" + tokens + "-cp" + cp + "-r" + round;
        Path yml = dir.resolve(name + ".yml");
        Files.writeString(yml, "base_model: " + dir.resolve("model") + "\nreinit_weights: true\ndatasets:\n"
                + "  - path: " + dir.resolve("data-" + tokens + ".jsonl") + "\nsequence_len: " + tokens
                + "\nmicro_batch_size: 1\ngradient_accumulation_steps: 1\nmax_steps: " + steps
                + "\nlearning_rate: 0.0003\noptimizer: adamw_torch\nlr_scheduler: constant\nsave_strategy: 'no'\n"
                + "output_dir: " + dir.resolve("out-" + name) + "\n"
                + (cp > 1 ? "context_parallel_size: " + cp + "\n" : ""));
        List<Map<String, Object>> ranks = RankJvms.train(yml, cp, cp == 1 ? threads : Math.max(1, threads / cp),
                allocator, dir.resolve("report-" + name));
        Map<String, Object> summary = new LinkedHashMap<>(ranks.get(0));
        long maxRss = 0;
        for (Map<String, Object> m : ranks) {
            maxRss = Math.max(maxRss, ((Number) m.get("peak_rss_bytes")).longValue());
        }
        summary.put("max_peak_rss_mib", maxRss >> 20);
        if (cp > 1) {
            summary.put("rank1_median_step_ms", ranks.get(1).get("median_step_ms"));
        }
        return summary;
    }
}
