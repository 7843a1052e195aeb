package ai.axolotl.hub;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.config.DatasetConfig;
import ai.axolotl.config.ModelSettings;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

import static ai.axolotl.config.ConfigLoader.isHubId;

/**
 * Turns the Hub ids of a config ({@code base_model}, {@code tokenizer_config}, {@code datasets[].path}) into local
 * snapshot directories, fetching only what training needs: a model's {@code config.json}, tokenizer files and
 * safetensors weights (the shards its index lists); a dataset's JSON, JSON-lines, CSV and Parquet files
 * ({@code data_files} patterns, {@code name} as a folder, the split's files when the repository names files by
 * split). A reference that exists locally is left alone.
 */
public final class HubResolver {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> MODEL_FILES = List.of("config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "chat_template.jinja", "generation_config.json");
    private static final List<String> DATA_EXTENSIONS = List.of(".jsonl", ".json", ".csv", ".parquet");
    private static final List<String> SPLITS = List.of("train", "test", "validation", "valid", "dev", "eval");
    private static final String INDEX = "model.safetensors.index.json";
    private static final String WEIGHTS = "model.safetensors";

    private final HubClient client;

    /** @param client the Hub and cache to resolve through */
    public HubResolver(HubClient client) {
        this.client = client;
    }

    /**
     * {@code config} resolved through the Hub client {@code huggingface_hub} would use in this environment
     * ({@link HubClient#fromEnvironment}; a Java system property of the same name, {@code -DHF_HUB_OFFLINE=1},
     * overrides the variable, for programs that embed the trainer); unchanged when it names no Hub id.
     */
    public static AxolotlConfig resolveFromEnvironment(AxolotlConfig config, java.util.function.Consumer<String> progress) {
        if (ConfigLoader.hubReferences(config).isEmpty()) {
            return config;
        }
        java.util.Map<String, String> env = new java.util.HashMap<>(System.getenv());
        for (String k : List.of("HF_ENDPOINT", "HF_TOKEN", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
                "HF_TOKEN_PATH")) {
            if (System.getProperty(k) != null) {
                env.put(k, System.getProperty(k));
            }
        }
        return new HubResolver(HubClient.fromEnvironment(env, progress)).resolve(config);
    }

    /** {@code config} with every Hub id replaced by the local snapshot directory it resolves to. */
    public AxolotlConfig resolve(AxolotlConfig config) {
        ModelSettings m = config.model();
        String base = m.baseModel();
        String tokenizer = m.tokenizerConfig();
        if (isHubId(base)) {
            base = model(base, m.revision(), !m.reinitWeights(), tokenizer == null).toString();
        }
        if (isHubId(tokenizer)) {
            tokenizer = model(tokenizer, "main", false, true).toString();
        }
        List<DatasetConfig> datasets = new ArrayList<>();
        for (DatasetConfig d : config.datasets()) {
            datasets.add(isHubId(d.path()) ? dataset(d) : d);
        }
        AdapterSettings adapter = m.adapter();
        if (isHubId(adapter.loraModelDir())) {
            adapter = adapter.withLoraModelDir(adapter(adapter.loraModelDir(), "main").toString());
        }
        ModelSettings model = new ModelSettings(base, m.reinitWeights(), tokenizer, m.gradientCheckpointing(),
                m.chunkedLoss(), m.specialTokens(), m.revision(), adapter);
        return new AxolotlConfig(model, datasets, config.data(), config.training(), config.optimizer(),
                config.scheduler(), config.checkpoint(), config.precision(), config.parallel());
    }

    /**
     * The snapshot directory of model {@code repo} at {@code revision} holding its config, tokenizer files and
     * (with {@code weights}) its safetensors; from the cache when complete there, else fetched.
     */
    public Path model(String repo, String revision, boolean weights, boolean tokenizer) {
        String rev = revision == null ? "main" : revision;
        HubCache cache = client.cache();
        var commit = cache.commit(RepoType.MODEL, repo, rev);
        if (commit.isPresent()) {
            Path snap = cache.snapshot(RepoType.MODEL, repo, commit.get());
            String missing = missingModelFile(snap, weights, tokenizer);
            if (missing == null) {
                return snap;
            }
            if (client.offline()) {
                throw new HubException(repo + "@" + rev + ": HF_HUB_OFFLINE is set and " + missing
                        + " is not in the cache (" + snap + ")");
            }
        } else if (client.offline()) {
            throw new HubException(repo + "@" + rev + ": HF_HUB_OFFLINE is set and the cache has no snapshot of it ("
                    + cache.repoDir(RepoType.MODEL, repo) + ")");
        }
        HubClient.Revision r = client.revision(RepoType.MODEL, repo, rev);
        if (r.file("config.json").isEmpty()) {
            throw new HubException(repo + "@" + rev + ": the repository has no config.json (not a transformers "
                    + "model)");
        }
        for (String f : MODEL_FILES) {
            r.file(f).ifPresent(file -> client.fetch(RepoType.MODEL, repo, rev, r, file));
        }
        if (tokenizer && r.file("tokenizer.json").isEmpty()) {
            throw new HubException(repo + "@" + rev + ": the repository has no tokenizer.json (a tokenizer.model "
                    + "alone is not read); name one with tokenizer_config");
        }
        if (weights) {
            if (r.file(INDEX).isPresent()) {
                Path index = client.fetch(RepoType.MODEL, repo, rev, r, r.file(INDEX).get());
                for (String shard : shards(index)) {
                    client.fetch(RepoType.MODEL, repo, rev, r, r.file(shard).orElseThrow(() -> new HubException(
                            repo + "@" + rev + ": " + INDEX + " names " + shard + ", which the repository lacks")));
                }
            } else if (r.file(WEIGHTS).isPresent()) {
                client.fetch(RepoType.MODEL, repo, rev, r, r.file(WEIGHTS).get());
            } else {
                throw new HubException(repo + "@" + rev + ": the repository has no safetensors weights ("
                        + WEIGHTS + " or " + INDEX + "; PyTorch .bin files are not read)");
            }
        }
        return client.cache().snapshot(RepoType.MODEL, repo, r.commit());
    }

    /**
     * The snapshot directory of a PEFT adapter repository ({@code lora_model_dir} naming a Hub id): its
     * {@code adapter_config.json} and {@code adapter_model.safetensors}, from the cache when there, else fetched.
     */
    public Path adapter(String repo, String revision) {
        HubCache cache = client.cache();
        var commit = cache.commit(RepoType.MODEL, repo, revision);
        if (commit.isPresent()) {
            Path snap = cache.snapshot(RepoType.MODEL, repo, commit.get());
            if (Files.isRegularFile(snap.resolve(ADAPTER_CONFIG)) && Files.isRegularFile(snap.resolve(ADAPTER_WEIGHTS))) {
                return snap;
            }
        }
        if (client.offline()) {
            throw new HubException(repo + "@" + revision + ": HF_HUB_OFFLINE is set and the cache has no complete "
                    + "snapshot of this adapter (" + cache.repoDir(RepoType.MODEL, repo) + ")");
        }
        HubClient.Revision r = client.revision(RepoType.MODEL, repo, revision);
        for (String f : List.of(ADAPTER_CONFIG, ADAPTER_WEIGHTS)) {
            client.fetch(RepoType.MODEL, repo, revision, r, r.file(f).orElseThrow(() -> new HubException(repo + "@"
                    + revision + ": the repository has no " + f + " (lora_model_dir names a PEFT adapter with "
                    + "safetensors weights)")));
        }
        return client.cache().snapshot(RepoType.MODEL, repo, r.commit());
    }

    private static final String ADAPTER_CONFIG = "adapter_config.json";
    private static final String ADAPTER_WEIGHTS = "adapter_model.safetensors";

    /** The first file a usable model snapshot lacks, or null. */
    private static String missingModelFile(Path snap, boolean weights, boolean tokenizer) {
        if (!Files.isRegularFile(snap.resolve("config.json"))) {
            return "config.json";
        }
        if (tokenizer && !Files.isRegularFile(snap.resolve("tokenizer.json"))) {
            return "tokenizer.json";
        }
        if (!weights) {
            return null;
        }
        Path index = snap.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            for (String shard : shards(index)) {
                if (!Files.isRegularFile(snap.resolve(shard))) {
                    return shard;
                }
            }
            return null;
        }
        return Files.isRegularFile(snap.resolve(WEIGHTS)) ? null : WEIGHTS;
    }

    private static Set<String> shards(Path index) {
        try {
            JsonNode map = JSON.readTree(index.toFile()).path("weight_map");
            Set<String> out = new LinkedHashSet<>();
            Iterator<JsonNode> it = map.elements();
            it.forEachRemaining(n -> out.add(n.asText()));
            return out;
        } catch (IOException e) {
            throw new HubException(index + ": unreadable safetensors index: " + e.getMessage(), e);
        }
    }

    /** {@code d} with its Hub id replaced by the snapshot directory and the files of the dataset. */
    public DatasetConfig dataset(DatasetConfig d) {
        String repo = d.path();
        String rev = d.revision() == null ? "main" : d.revision();
        HubCache cache = client.cache();
        var commit = cache.commit(RepoType.DATASET, repo, rev);
        List<String> files = null;
        Path snap = null;
        if (commit.isPresent() && Files.isDirectory(cache.snapshot(RepoType.DATASET, repo, commit.get()))) {
            snap = cache.snapshot(RepoType.DATASET, repo, commit.get());
            try {
                files = select(listed(snap), d, repo + "@" + rev);
            } catch (HubException e) {
                if (client.offline()) {
                    throw new HubException(e.getMessage() + " (HF_HUB_OFFLINE is set: only the cache was read)", e);
                }
                files = null; // the cached snapshot lacks files this entry asks for: ask the Hub
            }
        }
        if (files == null) {
            if (client.offline()) {
                throw new HubException(repo + "@" + rev + ": HF_HUB_OFFLINE is set and the cache has no snapshot of "
                        + "this dataset (" + cache.repoDir(RepoType.DATASET, repo) + ")");
            }
            HubClient.Revision r = client.revision(RepoType.DATASET, repo, rev);
            files = select(r.files().stream().map(HubClient.RemoteFile::path).toList(), d, repo + "@" + rev);
            for (String f : files) {
                client.fetch(RepoType.DATASET, repo, rev, r, r.file(f).orElseThrow());
            }
            snap = cache.snapshot(RepoType.DATASET, repo, r.commit());
        }
        return new DatasetConfig(snap.toString(), d.type(), d.field(), d.dsType(), files, d.split(), d.chat(),
                null, null);
    }

    private static List<String> listed(Path snap) {
        try (Stream<Path> s = Files.walk(snap)) {
            return s.filter(p -> !Files.isDirectory(p)).map(p -> snap.relativize(p).toString().replace('\\', '/'))
                    .sorted().toList();
        } catch (IOException e) {
            throw new HubException("cannot list " + snap + ": " + e.getMessage(), e);
        }
    }

    /**
     * The data files of a dataset repository to read: those matching {@code data_files} (glob patterns from the
     * repository root), else every JSON / JSON-lines / CSV / Parquet file; within {@code name}'s folder when given;
     * and when the files are named by split ({@code train-00000-of-00001.parquet}, {@code data/train.jsonl},
     * {@code test.csv}), only the {@code train} split's (the one a {@code split} slices).
     */
    static List<String> select(List<String> all, DatasetConfig d, String where) {
        List<String> data = new ArrayList<>();
        for (String f : all) {
            String lower = f.toLowerCase(Locale.ROOT);
            if (DATA_EXTENSIONS.stream().anyMatch(lower::endsWith) && !f.startsWith(".")) {
                data.add(f);
            }
        }
        if (d.name() != null) {
            data.removeIf(f -> !f.startsWith(d.name() + "/"));
        }
        if (d.dataFiles() != null) {
            List<String> matched = new ArrayList<>();
            for (String pattern : d.dataFiles()) {
                PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
                List<String> hits = data.stream().filter(f -> f.equals(pattern) || m.matches(Path.of(f))).toList();
                if (hits.isEmpty()) {
                    throw new HubException(where + ": data_files '" + pattern + "' matches no data file of the "
                            + "repository (" + data + ")");
                }
                hits.forEach(h -> {
                    if (!matched.contains(h)) {
                        matched.add(h);
                    }
                });
            }
            return matched;
        }
        List<String> bySplit = data.stream().filter(f -> splitOf(f) != null).toList();
        if (!bySplit.isEmpty()) {
            List<String> train = data.stream().filter(f -> "train".equals(splitOf(f))).toList();
            if (train.isEmpty()) {
                throw new HubException(where + ": the repository's files are named by split and none is train ("
                        + bySplit + "); choose files with data_files");
            }
            return train;
        }
        if (data.isEmpty()) {
            throw new HubException(where + ": the repository has no JSON, JSON-lines, CSV or Parquet files"
                    + (d.name() != null ? " under " + d.name() + "/" : ""));
        }
        return data;
    }

    /** The split a file's name gives it, as {@code datasets} infers splits from names, or null. */
    static String splitOf(String file) {
        String[] parts = file.split("/");
        for (int i = parts.length - 1; i >= 0; i--) {
            String p = parts[i].toLowerCase(Locale.ROOT);
            for (String s : SPLITS) {
                if (p.equals(s) || p.startsWith(s + ".") || p.startsWith(s + "-") || p.startsWith(s + "_")) {
                    return s.equals("valid") || s.equals("dev") || s.equals("eval") ? "validation" : s;
                }
            }
        }
        return null;
    }
}
