package ai.axolotl.data;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.DatasetConfig;
import ai.axolotl.data.chat.ChatTemplateFormat;
import ai.axolotl.data.chat.ChatTemplates;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * Every example of a config's datasets, tokenized, in file order, with a SHA-256 fingerprint of the token ids and
 * labels. With {@code dataset_prepared_path} the result is cached there under a key of everything that affects
 * tokenization.
 */
public final class TokenizedDataset {
    private static final Logger LOG = LoggerFactory.getLogger(TokenizedDataset.class);
    private static final int MAGIC = 0x41584453; // "AXDS"
    private final List<Example> examples;
    private final String fingerprint;

    private TokenizedDataset(List<Example> examples) {
        this.examples = List.copyOf(examples);
        this.fingerprint = fingerprintOf(examples);
    }

    /** The examples in dataset order. */
    public List<Example> examples() {
        return examples;
    }

    /** SHA-256 (hex) of every example's ids and labels, in order. */
    public String fingerprint() {
        return fingerprint;
    }

    /** Total tokens over all examples. */
    public long tokenCount() {
        long n = 0;
        for (Example e : examples) {
            n += e.length();
        }
        return n;
    }

    /** Tokens the loss is computed on, over all examples ({@link Example#trainedTokens()}). */
    public long trainedTokenCount() {
        long n = 0;
        for (Example e : examples) {
            n += e.trainedTokens();
        }
        return n;
    }

    /**
     * The directory under {@code dataset_prepared_path} where this config's tokenized datasets are cached (its
     * name is the cache key), or null when the config has no {@code dataset_prepared_path}.
     */
    public static Path cacheDir(AxolotlConfig config, Tokenizer tokenizer) {
        return config.data().datasetPreparedPath() == null ? null
                : Path.of(config.data().datasetPreparedPath()).resolve(cacheKey(config, tokenizer));
    }

    /**
     * Writes the examples as JSON lines, one {@code {"input_ids": [...], "labels": [...]}} per example in dataset
     * order (labels -100 where a token is not trained on).
     */
    public void writeJsonLines(Path file) {
        ObjectMapper json = new ObjectMapper();
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), "examples", ".tmp");
            try (var out = Files.newBufferedWriter(tmp)) {
                for (Example e : examples) {
                    var node = json.createObjectNode();
                    var ids = node.putArray("input_ids");
                    for (int id : e.inputIds()) {
                        ids.add(id);
                    }
                    var labels = node.putArray("labels");
                    for (int l : e.labels()) {
                        labels.add(l);
                    }
                    out.write(json.writeValueAsString(node));
                    out.write('\n');
                }
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new DataException(file + ": cannot write the tokenized rows: " + e.getMessage(), e);
        }
    }

    /**
     * One example as text for a reader: the decoded tokens with special tokens shown, each trained span wrapped in
     * {@code [[...]]}.
     */
    public static String marked(Example e, Tokenizer tokenizer) {
        StringBuilder b = new StringBuilder();
        int start = 0;
        while (start < e.length()) {
            boolean trained = e.labels()[start] != -100;
            int end = start;
            while (end < e.length() && (e.labels()[end] != -100) == trained) {
                end++;
            }
            String text = tokenizer.decode(java.util.Arrays.copyOfRange(e.inputIds(), start, end), false);
            b.append(trained ? "[[" + text + "]]" : text);
            start = end;
        }
        return b.toString();
    }

    /** Tokenizes (or loads from the prepared cache) the datasets of a config. */
    public static TokenizedDataset load(AxolotlConfig config, Tokenizer tokenizer, int modelVocab) {
        Path dir = cacheDir(config, tokenizer);
        Path cache = dir == null ? null : dir.resolve("examples.bin");
        TokenizedDataset ds;
        if (cache != null && Files.isRegularFile(cache)) {
            ds = new TokenizedDataset(readCache(cache));
            LOG.info("loaded {} prepared examples from {}", ds.examples.size(), cache);
        } else {
            ds = new TokenizedDataset(tokenize(config, tokenizer));
            if (cache != null) {
                writeCache(cache, ds.examples);
                LOG.info("saved prepared dataset to {}", cache);
            }
        }
        for (Example e : ds.examples) {
            for (int id : e.inputIds()) {
                if (id >= modelVocab) {
                    throw new DataException("token id " + id + " is outside the model's vocabulary (vocab_size "
                            + modelVocab + "); the tokenizer and base_model do not match");
                }
            }
        }
        if (ds.examples.isEmpty()) {
            throw new DataException("datasets produced no example with a trained token (every row was empty, had "
                    + "all its labels -100, or was longer than sequence_len " + config.data().sequenceLen() + ")");
        }
        return ds;
    }

    private static List<Example> tokenize(AxolotlConfig config, Tokenizer tokenizer) {
        List<Example> out = new ArrayList<>();
        int seqLen = config.data().sequenceLen();
        int dropped = 0;
        Optional<ChatTemplates.Named> runTemplate = ChatTemplates.runTemplate(config.data().chat(), tokenizer);
        for (int i = 0; i < config.datasets().size(); i++) {
            DatasetConfig d = config.datasets().get(i);
            PromptFormat format = format(config, d, i, tokenizer, runTemplate);
            List<DatasetFiles.Row> rows = new ArrayList<>();
            for (Path file : DatasetFiles.resolve(d, i)) {
                rows.addAll(DatasetFiles.read(file));
            }
            for (DatasetFiles.Row row : SplitSpec.parse(d.split()).apply(rows)) {
                List<Example> ex = format.tokenize(row.json(), row.where(), tokenizer, seqLen);
                if (ex.isEmpty()) {
                    dropped++;
                }
                for (Example e : ex) {
                    if (e.length() >= Math.max(2, config.data().minSampleLen()) && e.trainedTokens() > 0) {
                        out.add(e);
                    } else {
                        dropped++;
                    }
                }
            }
        }
        if (dropped > 0) {
            LOG.warn("dropped {} rows that were empty, had no trained token, were shorter than min_sample_len or longer "
                    + "than sequence_len {}",
                    dropped, seqLen);
        }
        return out;
    }

    private static PromptFormat format(AxolotlConfig config, DatasetConfig d, int i, Tokenizer tokenizer,
            Optional<ChatTemplates.Named> runTemplate) {
        if (!"chat_template".equals(d.type())) {
            return PromptFormat.forType(d.type(), d.field(), config.data().trainOnInputs());
        }
        ChatTemplates.Named named = ChatTemplates.datasetTemplate("datasets[" + i + "].chat_template",
                d.chat().chatTemplate(), d.chat().chatTemplateJinja(), runTemplate);
        return new ChatTemplateFormat(d.chat(), named, config.data().chat(), config.data().trainOnInputs(), tokenizer);
    }

    static String cacheKey(AxolotlConfig config, Tokenizer tokenizer) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            Optional<ChatTemplates.Named> run = ChatTemplates.runTemplate(config.data().chat(), tokenizer);
            StringBuilder templates = new StringBuilder();
            for (int i = 0; i < config.datasets().size(); i++) {
                DatasetConfig d = config.datasets().get(i);
                if (d.chat() != null) {
                    templates.append(ChatTemplates.datasetTemplate("datasets[" + i + "].chat_template",
                            d.chat().chatTemplate(), d.chat().chatTemplateJinja(), run).source()).append('|');
                }
            }
            ObjectMapper sorted = new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);
            String desc = sorted.writeValueAsString(config.datasets()) + "|" + tokenizer.identity()
                    + "|" + sorted.writeValueAsString(config.data().chat()) + "|" + templates
                    + "|" + config.data().sequenceLen() + "|" + config.data().trainOnInputs() + "|"
                    + config.data().minSampleLen();
            md.update(desc.getBytes(StandardCharsets.UTF_8));
            for (int i = 0; i < config.datasets().size(); i++) {
                for (Path f : DatasetFiles.resolve(config.datasets().get(i), i)) {
                    md.update((f.toAbsolutePath() + ":" + Files.size(f) + ":" + Files.getLastModifiedTime(f))
                            .getBytes(StandardCharsets.UTF_8));
                }
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 24);
        } catch (NoSuchAlgorithmException | IOException e) {
            throw new DataException("cannot compute the dataset cache key: " + e.getMessage(), e);
        }
    }

    static String fingerprintOf(List<Example> examples) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[4];
            for (Example e : examples) {
                update(md, buf, e.length());
                for (int id : e.inputIds()) {
                    update(md, buf, id);
                }
                for (int l : e.labels()) {
                    update(md, buf, l);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }

    private static void update(MessageDigest md, byte[] buf, int v) {
        buf[0] = (byte) (v >>> 24);
        buf[1] = (byte) (v >>> 16);
        buf[2] = (byte) (v >>> 8);
        buf[3] = (byte) v;
        md.update(buf);
    }

    private static List<Example> readCache(Path file) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file)))) {
            if (in.readInt() != MAGIC) {
                throw new DataException(file + ": not a prepared dataset (bad magic); delete it to re-tokenize");
            }
            int n = in.readInt();
            List<Example> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                int len = in.readInt();
                int[] ids = new int[len];
                int[] labels = new int[len];
                for (int j = 0; j < len; j++) {
                    ids[j] = in.readInt();
                }
                for (int j = 0; j < len; j++) {
                    labels[j] = in.readInt();
                }
                out.add(new Example(ids, labels));
            }
            return out;
        } catch (IOException e) {
            throw new DataException(file + ": cannot read prepared dataset: " + e.getMessage(), e);
        }
    }

    private static void writeCache(Path file, List<Example> examples) {
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), "examples", ".tmp");
            try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(tmp)))) {
                out.writeInt(MAGIC);
                out.writeInt(examples.size());
                for (Example e : examples) {
                    out.writeInt(e.length());
                    for (int id : e.inputIds()) {
                        out.writeInt(id);
                    }
                    for (int l : e.labels()) {
                        out.writeInt(l);
                    }
                }
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new DataException(file + ": cannot write prepared dataset: " + e.getMessage(), e);
        }
    }
}
