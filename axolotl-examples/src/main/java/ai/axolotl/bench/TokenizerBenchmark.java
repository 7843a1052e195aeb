package ai.axolotl.bench;

import ai.axolotl.data.HfTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * {@code axolotl bench --tokenizer DIR --text FILE}: tokens per second of {@link HfTokenizer} encoding one text
 * (no special tokens) in this thread, the median of {@code rounds} rounds of about one second each after a
 * warm-up. {@code axolotl-examples/scripts/tokenizer-bench.mjs} measures the official Hugging Face binding the
 * same way, for a side-by-side ratio.
 */
public final class TokenizerBenchmark {
    private final Path tokenizer;
    private final Path text;
    private final int rounds;

    /**
     * @param tokenizer a directory with tokenizer.json
     * @param text a UTF-8 text file, encoded whole
     * @param rounds timed rounds (median reported)
     */
    public TokenizerBenchmark(Path tokenizer, Path text, int rounds) {
        this.tokenizer = tokenizer;
        this.text = text;
        this.rounds = rounds;
    }

    /** Runs and returns one JSON line. */
    public String run() throws IOException {
        String s = Files.readString(text);
        try (HfTokenizer tok = HfTokenizer.load(tokenizer)) {
            int n = tok.encode(s).length;
            long warm = System.nanoTime();
            while (System.nanoTime() - warm < 1_000_000_000L) {
                tok.encode(s);
            }
            double[] rates = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                long start = System.nanoTime();
                long encodes = 0;
                long elapsed;
                do {
                    tok.encode(s);
                    encodes++;
                    elapsed = System.nanoTime() - start;
                } while (elapsed < 1_000_000_000L);
                rates[r] = encodes * (double) n / (elapsed / 1e9);
            }
            Arrays.sort(rates);
            ObjectNode out = new ObjectMapper().createObjectNode();
            out.put("engine", "axolotl-java HfTokenizer (DJL tokenizers)");
            out.put("tokenizer", tokenizer.toString());
            out.put("text", text.toString());
            out.put("chars", s.length());
            out.put("tokens", n);
            out.put("rounds", rounds);
            out.put("tokens_per_s_median", Math.round(rates[rounds / 2]));
            out.put("tokens_per_s_min", Math.round(rates[0]));
            out.put("tokens_per_s_max", Math.round(rates[rounds - 1]));
            return new ObjectMapper().writeValueAsString(out);
        }
    }
}
