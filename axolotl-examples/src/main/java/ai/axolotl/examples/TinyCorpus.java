package ai.axolotl.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Generates the example corpus deterministically: short stories from a small grammar, with counting and
 * arithmetic a model can learn (names, objects, colours, and sums that must add up). The repository ships its
 * output as {@code axolotl-examples/data/tiny-corpus.jsonl}; a test checks the shipped file is this output.
 *
 * <p>Run: {@code java -cp axolotl.jar ai.axolotl.examples.TinyCorpus OUT.jsonl [ROWS]}.
 */
public final class TinyCorpus {
    private static final String[] NAMES = {"Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jun",
        "Kira", "Leo", "Mia", "Noor", "Otto", "Pia"};
    private static final String[] ANIMALS = {"cat", "dog", "fox", "owl", "bee", "cow", "hen", "yak"};
    private static final String[] COLOURS = {"red", "blue", "green", "yellow", "black", "white"};
    private static final String[] THINGS = {"apples", "books", "shells", "coins", "stones", "cards", "pens"};
    private static final String[] PLACES = {"the park", "the river", "the market", "the hill", "the garden",
        "the school"};
    private static final String[] VERBS = {"ran to", "walked to", "looked at", "sat near", "jumped over"};
    private static final String[] DAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
        "Sunday"};

    private TinyCorpus() {}

    /** The rows, as text. */
    public static List<String> generate(int rows, long seed) {
        Random r = new Random(seed);
        List<String> out = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            StringBuilder b = new StringBuilder();
            int sentences = 3 + r.nextInt(3);
            for (int s = 0; s < sentences; s++) {
                if (s > 0) {
                    b.append(' ');
                }
                b.append(sentence(r));
            }
            out.add(b.toString());
        }
        return out;
    }

    private static String pick(Random r, String[] a) {
        return a[r.nextInt(a.length)];
    }

    private static String sentence(Random r) {
        String name = pick(r, NAMES);
        switch (r.nextInt(5)) {
            case 0: {
                int a = 1 + r.nextInt(9);
                int b = 1 + r.nextInt(9);
                String thing = pick(r, THINGS);
                return name + " has " + a + " " + thing + ". " + pick(r, NAMES) + " gives " + name + " " + b
                        + " more. Now " + name + " has " + (a + b) + " " + thing + ".";
            }
            case 1:
                return "The " + pick(r, COLOURS) + " " + pick(r, ANIMALS) + " " + pick(r, VERBS) + " "
                        + pick(r, PLACES) + ".";
            case 2: {
                int a = r.nextInt(20);
                int b = r.nextInt(20);
                return "Q: What is " + a + " plus " + b + "? A: " + (a + b) + ".";
            }
            case 3: {
                int d = r.nextInt(DAYS.length);
                return "On " + DAYS[d] + " " + name + " went to " + pick(r, PLACES) + ", and the next day was "
                        + DAYS[(d + 1) % DAYS.length] + ".";
            }
            default: {
                String animal = pick(r, ANIMALS);
                return name + " saw a " + animal + ". The " + animal + " was " + pick(r, COLOURS) + ".";
            }
        }
    }

    /** JSON-lines text of the corpus: one {@code {"text": ...}} per row. */
    public static String jsonl(int rows, long seed) {
        StringBuilder b = new StringBuilder();
        for (String t : generate(rows, seed)) {
            b.append("{\"text\": \"").append(t).append("\"}\n");
        }
        return b.toString();
    }

    /** Writes the corpus. */
    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: TinyCorpus OUT.jsonl [ROWS]");
            System.exit(2);
        }
        int rows = args.length > 1 ? Integer.parseInt(args[1]) : DEFAULT_ROWS;
        Files.writeString(Path.of(args[0]), jsonl(rows, DEFAULT_SEED));
    }

    /** Rows in the shipped corpus. */
    public static final int DEFAULT_ROWS = 3000;
    /** Seed of the shipped corpus. */
    public static final long DEFAULT_SEED = 2026;
}
