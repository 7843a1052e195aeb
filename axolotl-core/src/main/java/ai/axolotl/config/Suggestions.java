package ai.axolotl.config;

import java.util.Collection;
import java.util.Optional;

/** Finds the closest known name to a misspelt one (Levenshtein distance). */
final class Suggestions {
    private Suggestions() {}

    /** The closest candidate within a distance that scales with the name's length, if any. */
    static Optional<String> closest(String name, Collection<String> candidates) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String c : candidates) {
            int d = distance(name, c);
            if (d < bestDistance) {
                bestDistance = d;
                best = c;
            }
        }
        int allowed = Math.max(2, name.length() / 3);
        if (bestDistance <= allowed) {
            return Optional.ofNullable(best);
        }
        for (String c : candidates) {
            if (name.length() >= 4 && c.startsWith(name)) {
                return Optional.of(c);
            }
        }
        return Optional.empty();
    }

    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
