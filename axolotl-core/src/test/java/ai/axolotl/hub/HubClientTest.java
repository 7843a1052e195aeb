package ai.axolotl.hub;

import ai.axolotl.config.DatasetConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Hub resolution against {@link FakeHub} on the loopback interface (the public Hub is not reachable here). */
class HubClientTest {
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final byte[] WEIGHTS = weights();

    @TempDir
    Path tmp;
    FakeHub hub;
    List<String> progress;

    static byte[] weights() {
        byte[] b = new byte[300_000];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (i * 31 + (i >> 8));
        }
        return b;
    }

    @BeforeEach
    void start() throws IOException {
        hub = new FakeHub();
        progress = new ArrayList<>();
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", "{\"model_type\": \"llama\"}".getBytes(StandardCharsets.UTF_8));
        files.put("tokenizer.json", "{\"tok\": 1}".getBytes(StandardCharsets.UTF_8));
        files.put("tokenizer_config.json", "{}".getBytes(StandardCharsets.UTF_8));
        files.put("model.safetensors", WEIGHTS);
        files.put("README.md", "# not fetched".getBytes(StandardCharsets.UTF_8));
        files.put("pytorch_model.bin", new byte[10]);
        hub.add("models/org/tiny", COMMIT, files, List.of("model.safetensors", "pytorch_model.bin"), "secret");
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    HubClient client(String token, boolean offline) {
        return new HubClient(hub.endpoint(), token, offline, new HubCache(tmp.resolve("cache")), progress::add);
    }

    @Test
    void downloadsOnlyWhatTrainingNeedsIntoHuggingFaceHubsLayout() throws IOException {
        Path snap = new HubResolver(client("secret", false)).model("org/tiny", "main", true, true);
        Path repo = tmp.resolve("cache/models--org--tiny");
        assertThat(snap).isEqualTo(repo.resolve("snapshots").resolve(COMMIT));
        assertThat(Files.readString(repo.resolve("refs/main"))).isEqualTo(COMMIT);
        assertThat(Files.isSymbolicLink(snap.resolve("model.safetensors"))).isTrue();
        assertThat(Files.readSymbolicLink(snap.resolve("model.safetensors")).toString())
                .isEqualTo("../../blobs/" + FakeHub.sha("SHA-256", null, WEIGHTS));
        assertThat(Files.readAllBytes(snap.resolve("model.safetensors"))).isEqualTo(WEIGHTS);
        assertThat(repo.resolve("blobs").resolve(FakeHub.blobId(Files.readAllBytes(snap.resolve("config.json")))))
                .as("git files are named by their blob id").exists();
        assertThat(snap.resolve("README.md")).doesNotExist();
        assertThat(snap.resolve("pytorch_model.bin")).doesNotExist();
        assertThat(hub.authorizations.get("/org/tiny/resolve/" + COMMIT + "/config.json")).isEqualTo("Bearer secret");
        assertThat(hub.authorizations.get("/cdn/models/org/tiny/model.safetensors"))
                .as("the token stays with the Hub's host across the LFS redirect").isEmpty();
        assertThat(progress).anyMatch(l -> l.startsWith("downloading org/tiny model.safetensors: 100%"));
        try (var s = Files.list(repo.resolve("blobs"))) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.endsWith(".incomplete"));
        }
    }

    @Test
    void aCachedSnapshotIsUsedWithoutTheNetworkAndOfflineModeReadsOnlyTheCache() throws IOException {
        Path first = new HubResolver(client("secret", false)).model("org/tiny", "main", true, true);
        hub.close();
        HubClient unreachable = new HubClient("http://127.0.0.1:9", null, false, new HubCache(tmp.resolve("cache")),
                progress::add);
        assertThat(new HubResolver(unreachable).model("org/tiny", "main", true, true)).isEqualTo(first);
        assertThat(new HubResolver(unreachable).model("org/tiny", COMMIT, true, true)).isEqualTo(first);
        Files.delete(first.resolve("tokenizer.json"));
        HubClient offline = new HubClient("http://127.0.0.1:9", null, true, new HubCache(tmp.resolve("cache")),
                progress::add);
        assertThatThrownBy(() -> new HubResolver(offline).model("org/tiny", "main", true, true))
                .isInstanceOf(HubException.class)
                .hasMessageStartingWith("org/tiny@main: HF_HUB_OFFLINE is set and tokenizer.json is not in the cache");
        assertThatThrownBy(() -> new HubResolver(offline).model("org/other", "main", true, true))
                .hasMessageStartingWith("org/other@main: HF_HUB_OFFLINE is set and the cache has no snapshot of it");
    }

    @Test
    void aCutConnectionResumesWithARangeRequest() throws IOException {
        hub.cutAfter.put("models/org/tiny/model.safetensors", 100_000);
        Path snap = new HubResolver(client("secret", false)).model("org/tiny", "main", true, true);
        assertThat(Files.readAllBytes(snap.resolve("model.safetensors"))).isEqualTo(WEIGHTS);
        // the second request asks for the rest from where the partial file ends (at most the 100,000 bytes sent)
        assertThat(hub.requests).anySatisfy(r -> {
            assertThat(r).startsWith("/cdn/models/org/tiny/model.safetensors bytes=");
            long from = Long.parseLong(r.substring(r.indexOf('=') + 1, r.length() - 1));
            assertThat(from).isBetween(1L, 100_000L);
        });
        assertThat(progress).anyMatch(l -> l.contains("was cut") && l.contains("resuming"));
    }

    @Test
    void bytesThatDoNotMatchTheHubsSha256AreRefusedAndNotCached() {
        byte[] bad = WEIGHTS.clone();
        bad[7] ^= 1;
        hub.corrupt.put("models/org/tiny/model.safetensors", bad);
        assertThatThrownBy(() -> new HubResolver(client("secret", false)).model("org/tiny", "main", true, true))
                .isInstanceOf(HubException.class)
                .hasMessageContaining("org/tiny@main: model.safetensors does not match the Hub's sha256");
        assertThat(tmp.resolve("cache/models--org--tiny/blobs").resolve(FakeHub.sha("SHA-256", null, WEIGHTS)))
                .doesNotExist();
        assertThat(tmp.resolve("cache/models--org--tiny/snapshots").resolve(COMMIT).resolve("model.safetensors"))
                .doesNotExist();
    }

    @Test
    void errorsNameTheRepositoryRevisionAndFile() {
        assertThatThrownBy(() -> new HubResolver(client(null, false)).model("org/tiny", "main", true, true))
                .hasMessage("org/tiny@main: 401 the repository is private, gated or does not exist, and no token is "
                        + "set (set HF_TOKEN)");
        assertThatThrownBy(() -> new HubResolver(client("secret", false)).model("org/tiny", "v9", true, true))
                .hasMessage("org/tiny: revision 'v9' not found");
        assertThatThrownBy(() -> new HubResolver(client("secret", false)).model("org/missing", "main", true, true))
                .hasMessage("org/missing: repository not found; nor is it a local path");
        HubClient c = client("secret", false);
        HubClient.Revision r = c.revision(RepoType.MODEL, "org/tiny", "main");
        assertThatThrownBy(() -> c.fetch(RepoType.MODEL, "org/tiny", "main", r,
                new HubClient.RemoteFile("nope.json", 3, FakeHub.blobId(new byte[3]), null)))
                .hasMessage("org/tiny@main nope.json: file not found in the repository");
    }

    @Test
    void shardedWeightsAreFetchedByTheirIndex() throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", "{}".getBytes(StandardCharsets.UTF_8));
        files.put("model.safetensors.index.json", ("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", "
                + "\"b\": \"model-00002-of-00002.safetensors\"}}").getBytes(StandardCharsets.UTF_8));
        files.put("model-00001-of-00002.safetensors", new byte[] {1, 2, 3});
        files.put("model-00002-of-00002.safetensors", new byte[] {4, 5});
        files.put("model-00003-of-00003.safetensors", new byte[] {6});
        hub.add("models/org/sharded", COMMIT, files, List.of("model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"), null);
        Path snap = new HubResolver(client(null, false)).model("org/sharded", "main", true, false);
        assertThat(snap.resolve("model-00002-of-00002.safetensors")).hasBinaryContent(new byte[] {4, 5});
        assertThat(snap.resolve("model-00003-of-00003.safetensors")).doesNotExist();
    }

    @Test
    void aDatasetRepositoryGivesItsTrainSplitsFilesOrTheDataFilesAsked() throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("README.md", new byte[] {1});
        files.put("data/train-00000-of-00001.jsonl", "{\"text\": \"a\"}\n".getBytes(StandardCharsets.UTF_8));
        files.put("data/test-00000-of-00001.jsonl", "{\"text\": \"b\"}\n".getBytes(StandardCharsets.UTF_8));
        files.put("extra/more.csv", "text\nc\n".getBytes(StandardCharsets.UTF_8));
        hub.add("datasets/org/chat", COMMIT, files, List.of(), null);
        HubResolver resolver = new HubResolver(client(null, false));
        DatasetConfig d = resolver.dataset(new DatasetConfig("org/chat", "completion", null, null, null));
        assertThat(d.dataFiles()).containsExactly("data/train-00000-of-00001.jsonl");
        assertThat(Path.of(d.path())).isEqualTo(tmp.resolve("cache/datasets--org--chat/snapshots").resolve(COMMIT));
        assertThat(Path.of(d.path()).resolve("data/train-00000-of-00001.jsonl")).exists();
        DatasetConfig all = resolver.dataset(new DatasetConfig("org/chat", "completion", null, null,
                List.of("data/*.jsonl", "extra/more.csv")));
        assertThat(all.dataFiles()).containsExactly("data/train-00000-of-00001.jsonl",
                "data/test-00000-of-00001.jsonl", "extra/more.csv");
        assertThatThrownBy(() -> resolver.dataset(new DatasetConfig("org/chat", "completion", null, null,
                List.of("*.parquet")))).hasMessageContaining("data_files '*.parquet' matches no data file");
    }

    @Test
    void theSplitOfAFileComesFromItsName() {
        assertThat(HubResolver.splitOf("data/train-00000-of-00001.parquet")).isEqualTo("train");
        assertThat(HubResolver.splitOf("test.jsonl")).isEqualTo("test");
        assertThat(HubResolver.splitOf("validation/part.json")).isEqualTo("validation");
        assertThat(HubResolver.splitOf("data/conversations.jsonl")).isNull();
    }

    @Test
    void aConfigNamingAHubDatasetTrainsOnItsFilesThroughTheEnvironmentsHub() throws Exception {
        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            rows.append("{\"text\": \"row ").append(i).append("\"}\n");
        }
        hub.add("datasets/org/rows", COMMIT, Map.of("train.jsonl", rows.toString().getBytes(StandardCharsets.UTF_8)),
                List.of(), null);
        Path yaml = tmp.resolve("c.yml");
        Files.writeString(yaml, "base_model: " + tmp + "\n" + """
                datasets:
                  - path: org/rows
                    type: completion
                    split: train[:30%]
                sequence_len: 64
                micro_batch_size: 1
                gradient_accumulation_steps: 1
                learning_rate: 0.001
                output_dir: out
                """);
        var config = ai.axolotl.config.ConfigLoader.load(yaml, Map.of()).config();
        System.setProperty("HF_ENDPOINT", hub.endpoint());
        System.setProperty("HF_HUB_CACHE", tmp.resolve("env-cache").toString());
        try {
            var local = HubResolver.resolveFromEnvironment(config, progress::add);
            var ds = ai.axolotl.data.TokenizedDataset.load(local, new ai.axolotl.data.ByteTokenizer(), 259);
            assertThat(ds.examples()).hasSize(3);
            assertThat(new ai.axolotl.data.ByteTokenizer().decode(ds.examples().get(2).inputIds())).isEqualTo("row 2");
            assertThat(tmp.resolve("env-cache/datasets--org--rows/refs/main")).hasContent(COMMIT);
        } finally {
            System.clearProperty("HF_ENDPOINT");
            System.clearProperty("HF_HUB_CACHE");
        }
    }

    /** lora_model_dir naming a Hub id resolves to the adapter's snapshot (its config and safetensors only). */
    @Test
    void aLoraModelDirHubIdResolvesToTheAdaptersSnapshot() throws Exception {
        hub.add("models/org/adapter", COMMIT, Map.of("adapter_config.json", "{\"peft_type\": \"LORA\"}"
                .getBytes(StandardCharsets.UTF_8), "adapter_model.safetensors", WEIGHTS, "README.md",
                new byte[3]), List.of("adapter_model.safetensors"), null);
        Path yaml = tmp.resolve("a.yml");
        Files.writeString(yaml, "base_model: " + tmp + "\n" + """
                adapter: lora
                lora_r: 8
                lora_alpha: 16
                lora_target_linear: true
                lora_model_dir: org/adapter
                datasets:
                  - path: data.jsonl
                    type: completion
                sequence_len: 64
                micro_batch_size: 1
                gradient_accumulation_steps: 1
                learning_rate: 0.001
                output_dir: out
                """);
        var config = ai.axolotl.config.ConfigLoader.load(yaml, Map.of()).config();
        assertThat(ai.axolotl.config.ConfigLoader.hubReferences(config)).contains("lora_model_dir: org/adapter");
        var local = new HubResolver(client(null, false)).resolve(config);
        Path dir = Path.of(local.model().adapter().loraModelDir());
        assertThat(dir).isEqualTo(tmp.resolve("cache/models--org--adapter/snapshots").resolve(COMMIT));
        assertThat(dir.resolve("adapter_model.safetensors")).exists();
        assertThat(dir.resolve("adapter_config.json")).exists();
        assertThat(dir.resolve("README.md")).doesNotExist();
    }
}
