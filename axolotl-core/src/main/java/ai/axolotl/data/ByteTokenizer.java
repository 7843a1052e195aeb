package ai.axolotl.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The embedded default tokenizer: one token per UTF-8 byte (ids 0-255) plus {@code <s>} (256), {@code </s>}
 * (257) and {@code <pad>} (258). It saves itself as a Hugging Face {@code tokenizer.json} (byte-level BPE with
 * no merges) that other tools load to the same ids.
 */
public final class ByteTokenizer implements Tokenizer {
    /** Beginning of sequence. */
    public static final int BOS = 256;
    /** End of sequence. */
    public static final int EOS = 257;
    /** Padding. */
    public static final int PAD = 258;
    /** Number of ids. */
    public static final int VOCAB = 259;

    @Override
    public int[] encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = bytes[i] & 0xff;
        }
        return ids;
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id >= 0 && id < 256) {
                out.write(id);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public int bosId() {
        return BOS;
    }

    @Override
    public int eosId() {
        return EOS;
    }

    @Override
    public int padId() {
        return PAD;
    }

    @Override
    public int vocabSize() {
        return VOCAB;
    }

    @Override
    public int[][] charSpans(String text) {
        int[][] out = new int[text.getBytes(StandardCharsets.UTF_8).length][];
        int b = 0;
        int cp = 0;
        for (int i = 0; i < text.length(); cp++) {
            int c = text.codePointAt(i);
            int n = new String(Character.toChars(c)).getBytes(StandardCharsets.UTF_8).length;
            for (int k = 0; k < n; k++) {
                out[b++] = new int[] {cp, cp + 1};
            }
            i += Character.charCount(c);
        }
        return out;
    }

    @Override
    public int idOf(String token) {
        return switch (token) {
            case "<s>" -> BOS;
            case "</s>" -> EOS;
            case "<pad>" -> PAD;
            default -> -1;
        };
    }

    @Override
    public Map<String, String> specialTokens() {
        return Map.of("bos_token", "<s>", "eos_token", "</s>", "pad_token", "<pad>");
    }

    @Override
    public String identity() {
        return "byte-v1";
    }

    /**
     * GPT-2's reversible byte-to-unicode table used by Hugging Face's ByteLevel pre-tokenizer: printable bytes map
     * to themselves, the rest to code points from 256 upwards, in byte order.
     */
    static char[] byteToUnicode() {
        char[] table = new char[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            printable[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            printable[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            printable[b] = true;
        }
        int next = 0;
        for (int b = 0; b < 256; b++) {
            table[b] = printable[b] ? (char) b : (char) (256 + next++);
        }
        return table;
    }

    /** Hugging Face's TemplateProcessing that puts {@code <s>} before a text, as {@link #encode(String, boolean)}. */
    private static Map<String, Object> bosProcessor() {
        Map<String, Object> bos = Map.of("SpecialToken", Map.of("id", "<s>", "type_id", 0));
        Map<String, Object> processor = new LinkedHashMap<>();
        processor.put("type", "TemplateProcessing");
        processor.put("single", List.of(bos, Map.of("Sequence", Map.of("id", "A", "type_id", 0))));
        processor.put("pair", List.of(bos, Map.of("Sequence", Map.of("id", "A", "type_id", 0)),
                Map.of("SpecialToken", Map.of("id", "<s>", "type_id", 1)),
                Map.of("Sequence", Map.of("id", "B", "type_id", 1))));
        processor.put("special_tokens", Map.of("<s>", Map.of("id", "<s>", "ids", List.of(BOS), "tokens",
                List.of("<s>"))));
        return processor;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        int[] body = encode(text);
        if (!addSpecialTokens) {
            return body;
        }
        int[] out = new int[body.length + 1];
        out[0] = BOS;
        System.arraycopy(body, 0, out, 1, body.length);
        return out;
    }

    @Override
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        char[] table = byteToUnicode();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(table[b]), b);
        }
        List<Map<String, Object>> added = new ArrayList<>();
        String[] specials = {"<s>", "</s>", "<pad>"};
        for (int i = 0; i < specials.length; i++) {
            vocab.put(specials[i], 256 + i);
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", 256 + i);
            t.put("content", specials[i]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
            added.add(t);
        }
        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", false);
        byteLevel.put("use_regex", false);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        model.put("vocab", vocab);
        model.put("merges", List.of());
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", added);
        root.put("normalizer", null);
        root.put("pre_tokenizer", byteLevel);
        root.put("post_processor", bosProcessor());
        root.put("decoder", byteLevel);
        root.put("model", model);
        Files.writeString(dir.resolve("tokenizer.json"), json.writeValueAsString(root));
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("tokenizer_class", "PreTrainedTokenizerFast");
        cfg.put("bos_token", "<s>");
        cfg.put("eos_token", "</s>");
        cfg.put("pad_token", "<pad>");
        cfg.put("add_bos_token", true);
        cfg.put("model_max_length", 1_000_000);
        Files.writeString(dir.resolve("tokenizer_config.json"), json.writeValueAsString(cfg));
    }
}
