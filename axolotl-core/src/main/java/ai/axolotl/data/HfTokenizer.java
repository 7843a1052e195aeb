package ai.axolotl.data;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A Hugging Face {@code tokenizer.json} run through DJL's binding of the Rust tokenizers library (the library
 * behind transformers' fast tokenizers), configured to give transformers' ids: no truncation, no padding, special
 * tokens only where transformers adds them. Special tokens and the chat template come from the
 * {@code tokenizer_config.json} (and {@code chat_template.jinja}) beside it.
 *
 * <p>DJL is kept offline: unless the user chose a flavour ({@code RUST_FLAVOR}) or offline mode
 * ({@code DJL_OFFLINE}, {@code ai.djl.offline}) it is put in offline mode before the first load, so it uses the
 * CPU library inside its jar and never tries to download a CUDA build (which it otherwise does on a machine with
 * a CUDA runtime).
 */
public final class HfTokenizer implements Tokenizer, AutoCloseable {
    private static final List<String> BOS_NAMES = List.of("<s>", "<|begin_of_text|>", "<bos>", "[CLS]");
    private static final List<String> EOS_NAMES = List.of("</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "[SEP]");
    private static final List<String> PAD_NAMES = List.of("<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>");
    /**
     * Classes whose transformers implementation rebuilds the post-processor from {@code add_bos_token} /
     * {@code add_eos_token} ({@code LlamaTokenizerFast.update_post_processor} and its copies).
     */
    private static final Set<String> BOS_FLAG_CLASSES = Set.of("LlamaTokenizer", "LlamaTokenizerFast",
            "CodeLlamaTokenizer", "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast");
    private static final ObjectMapper JSON = new ObjectMapper();

    static {
        if (System.getenv("RUST_FLAVOR") == null && System.getenv("DJL_OFFLINE") == null
                && System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
    }

    private final Path file;
    private final HuggingFaceTokenizer tokenizer;
    /** Every token of the vocabulary and the added tokens, to its id (the parsed file itself is not kept). */
    private final Map<String, Integer> ids;
    private final ObjectNode config;
    private final int bos;
    private final int eos;
    private final int pad;
    private final int vocab;
    private final Map<String, String> specials;
    /** null: the post-processor of tokenizer.json decides; else transformers' add_bos_token/add_eos_token. */
    private final boolean[] bosEosFlags;
    private final String chatTemplate;
    private final String identity;

    private HfTokenizer(Path file, Map<String, String> overrides) throws IOException {
        this.file = file;
        this.tokenizer = HuggingFaceTokenizer.newInstance(file,
                Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"));
        JsonNode root = JSON.readTree(file.toFile());
        this.ids = new HashMap<>();
        root.path("model").path("vocab").fields().forEachRemaining(e -> ids.put(e.getKey(), e.getValue().asInt()));
        for (JsonNode t : root.path("added_tokens")) {
            ids.put(t.path("content").asText(), t.path("id").asInt());
        }
        Path cfgFile = file.resolveSibling("tokenizer_config.json");
        this.config = Files.isRegularFile(cfgFile) && JSON.readTree(cfgFile.toFile()) instanceof ObjectNode o
                ? o : JSON.createObjectNode();
        int maxId = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
        this.vocab = maxId + 1;
        this.specials = new LinkedHashMap<>();
        for (String name : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
            String content = overrides.containsKey(name) ? overrides.get(name) : tokenString(config.get(name));
            if (content != null) {
                if (idOf(content) < 0) {
                    throw new IOException((overrides.containsKey(name) ? "special_tokens." + name
                            : cfgFile + ": " + name) + " '" + content + "' is not a token of " + file
                            + " (adding tokens is not supported; name an existing token)");
                }
                specials.put(name, content);
            }
        }
        this.bos = special("bos_token", BOS_NAMES);
        int e = special("eos_token", EOS_NAMES);
        if (e < 0) {
            throw new IOException(file + ": no end-of-sequence token found (looked for eos_token in "
                    + "tokenizer_config.json and " + EOS_NAMES + ")");
        }
        this.eos = e;
        int p = special("pad_token", PAD_NAMES);
        this.pad = p >= 0 ? p : e;
        String cls = config.path("tokenizer_class").asText("");
        this.bosEosFlags = BOS_FLAG_CLASSES.contains(cls)
                ? new boolean[] {config.path("add_bos_token").asBoolean(true),
                    config.path("add_eos_token").asBoolean(false)}
                : null;
        this.chatTemplate = readChatTemplate(file, config);
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(Files.readAllBytes(file));
            md.update(JSON.writeValueAsBytes(config));
            md.update(JSON.writeValueAsBytes(overrides));
            if (chatTemplate != null) {
                md.update(chatTemplate.getBytes(StandardCharsets.UTF_8));
            }
            this.identity = "hf-" + HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }

    /** Loads {@code tokenizer.json} (a file, or a directory that contains one). */
    public static HfTokenizer load(Path path) throws IOException {
        return load(path, Map.of());
    }

    /**
     * Loads {@code tokenizer.json} with Axolotl's {@code special_tokens} overrides ({@code bos_token},
     * {@code eos_token}, {@code pad_token}, {@code unk_token} to tokens already in the vocabulary).
     */
    public static HfTokenizer load(Path path, Map<String, String> specialTokens) throws IOException {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        if (!Files.isRegularFile(file)) {
            throw new IOException("no tokenizer.json at " + path);
        }
        try {
            return new HfTokenizer(file, specialTokens);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(file + " or the tokenizer_config.json beside it is not valid JSON: "
                    + e.getOriginalMessage(), e);
        } catch (RuntimeException e) {
            // DJL's native library refuses a tokenizer.json it cannot build (its message is the Rust error)
            throw new IOException(file + " is not a tokenizer.json the tokenizers library can load: "
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse(""), e);
        }
    }

    private static String readChatTemplate(Path file, JsonNode config) throws IOException {
        Path jinja = file.resolveSibling("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            return Files.readString(jinja);
        }
        JsonNode t = config.get("chat_template");
        if (t == null || t.isNull()) {
            return null;
        }
        if (t.isTextual()) {
            return t.asText();
        }
        if (t.isArray()) {
            for (JsonNode named : t) {
                if ("default".equals(named.path("name").asText())) {
                    return named.path("template").asText();
                }
            }
            return null;
        }
        throw new IOException(file.resolveSibling("tokenizer_config.json") + ": chat_template must be a string or "
                + "a list of {name, template}");
    }

    private static String tokenString(JsonNode v) {
        if (v == null || v.isNull()) {
            return null;
        }
        return v.isTextual() ? v.asText() : v.path("content").asText(null);
    }

    private int special(String key, List<String> names) {
        if (specials.containsKey(key)) {
            return idOf(specials.get(key));
        }
        if (config.has(key)) {
            return -1; // named null in tokenizer_config.json: the tokenizer has none
        }
        for (String n : names) {
            int id = idOf(n);
            if (id >= 0) {
                return id;
            }
        }
        return -1;
    }

    @Override
    public int idOf(String content) {
        Integer id = content == null ? null : ids.get(content);
        return id == null ? -1 : id;
    }

    @Override
    public int[] encode(String text) {
        return encode(text, false);
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        boolean viaFile = addSpecialTokens && bosEosFlags == null;
        Encoding enc = tokenizer.encode(text, viaFile, false);
        long[] ids = enc.getIds();
        boolean addBos = addSpecialTokens && bosEosFlags != null && bosEosFlags[0] && bos >= 0;
        boolean addEos = addSpecialTokens && bosEosFlags != null && bosEosFlags[1];
        int lead = addBos ? 1 : 0;
        int[] out = new int[ids.length + lead + (addEos ? 1 : 0)];
        if (addBos) {
            out[0] = bos;
        }
        for (int i = 0; i < ids.length; i++) {
            out[lead + i] = (int) ids[i];
        }
        if (addEos) {
            out[out.length - 1] = eos;
        }
        return out;
    }

    @Override
    public int[][] charSpans(String text) {
        Encoding enc = tokenizer.encode(text, false, false);
        ai.djl.huggingface.tokenizers.jni.CharSpan[] spans = enc.getCharTokenSpans();
        int[][] out = new int[spans.length][];
        int last = 0;
        for (int i = 0; i < spans.length; i++) {
            out[i] = spans[i] == null ? new int[] {last, last} : new int[] {spans[i].getStart(), spans[i].getEnd()};
            last = out[i][1];
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        return decode(ids, true);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, skipSpecialTokens);
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
    public Map<String, String> specialTokens() {
        return Map.copyOf(specials);
    }

    @Override
    public Optional<String> chatTemplate() {
        return Optional.ofNullable(chatTemplate);
    }

    @Override
    public String identity() {
        return identity;
    }

    @Override
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.copy(file, dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        if (!config.isEmpty()) {
            ObjectNode out = config.deepCopy();
            specials.forEach(out::put);
            Files.writeString(dir.resolve("tokenizer_config.json"),
                    JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out));
        }
        Path jinja = file.resolveSibling("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            Files.copy(jinja, dir.resolve("chat_template.jinja"), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
