package ai.axolotl.data;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} run through DJL's binding of the Rust tokenizers library. Special tokens
 * come from a {@code tokenizer_config.json} beside it when present, otherwise from common names.
 */
public final class HfTokenizer implements Tokenizer, AutoCloseable {
    private static final List<String> BOS_NAMES = List.of("<s>", "<|begin_of_text|>", "<bos>", "[CLS]");
    private static final List<String> EOS_NAMES = List.of("</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "[SEP]");
    private static final List<String> PAD_NAMES = List.of("<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>");

    private final Path file;
    private final HuggingFaceTokenizer tokenizer;
    private final int bos;
    private final int eos;
    private final int pad;
    private final int vocab;
    private final String identity;

    private HfTokenizer(Path file) throws IOException {
        this.file = file;
        this.tokenizer = HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "false"));
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        JsonNode cfg = null;
        Path cfgFile = file.resolveSibling("tokenizer_config.json");
        if (Files.isRegularFile(cfgFile)) {
            cfg = new ObjectMapper().readTree(cfgFile.toFile());
        }
        int maxId = -1;
        for (JsonNode v : iterable(root.path("model").path("vocab"))) {
            maxId = Math.max(maxId, v.asInt());
        }
        for (JsonNode t : root.path("added_tokens")) {
            maxId = Math.max(maxId, t.path("id").asInt());
        }
        this.vocab = maxId + 1;
        this.bos = special(root, cfg, "bos_token", BOS_NAMES);
        int e = special(root, cfg, "eos_token", EOS_NAMES);
        if (e < 0) {
            throw new IOException(file + ": no end-of-sequence token found (looked for eos_token in "
                    + "tokenizer_config.json and " + EOS_NAMES + ")");
        }
        this.eos = e;
        int p = special(root, cfg, "pad_token", PAD_NAMES);
        this.pad = p >= 0 ? p : e;
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(Files.readAllBytes(file));
            this.identity = "hf-" + HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }

    /** Loads {@code tokenizer.json} (a file, or a directory that contains one). */
    public static HfTokenizer load(Path path) throws IOException {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        if (!Files.isRegularFile(file)) {
            throw new IOException("no tokenizer.json at " + path);
        }
        return new HfTokenizer(file);
    }

    private static Iterable<JsonNode> iterable(JsonNode obj) {
        return obj::elements;
    }

    private static int special(JsonNode root, JsonNode cfg, String key, List<String> names) {
        if (cfg != null && cfg.has(key)) {
            JsonNode v = cfg.get(key);
            String content = v.isTextual() ? v.asText() : v.path("content").asText(null);
            int id = idOf(root, content);
            if (id >= 0) {
                return id;
            }
        }
        for (String n : names) {
            int id = idOf(root, n);
            if (id >= 0) {
                return id;
            }
        }
        return -1;
    }

    private static int idOf(JsonNode root, String content) {
        if (content == null) {
            return -1;
        }
        for (JsonNode t : root.path("added_tokens")) {
            if (content.equals(t.path("content").asText())) {
                return t.path("id").asInt();
            }
        }
        JsonNode v = root.path("model").path("vocab").get(content);
        return v != null && v.isInt() ? v.asInt() : -1;
    }

    @Override
    public int[] encode(String text) {
        Encoding enc = tokenizer.encode(text, false, false);
        long[] ids = enc.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, true);
    }

    @Override
    public int bosId() {
        return bos;
    }

    @Override
    public int eosId() {
        return eos;
    }

    @Override
    public int padId() {
        return pad;
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    @Override
    public String identity() {
        return identity;
    }

    @Override
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.copy(file, dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        Path cfg = file.resolveSibling("tokenizer_config.json");
        if (Files.isRegularFile(cfg)) {
            Files.copy(cfg, dir.resolve("tokenizer_config.json"), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
