package ai.axolotl.data.chat;

import ai.axolotl.data.DataException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code message_field_training_detail}: which characters of a turn's content are trained, as Axolotl reads them:
 * spans {@code {begin_offset, end_offset, train}} with inclusive ends, in characters (Python string indices), each
 * widened to the token boundaries around it; a token is trained when it lies wholly inside a trained span.
 *
 * @param spans the spans in the order given
 */
record TrainingDetail(List<Span> spans) {
    /** One span of characters, ends inclusive. */
    record Span(int begin, int end, boolean train) {}

    /** Reads the row's list of spans; null when the turn has none. */
    static TrainingDetail parse(Object value, String where) {
        if (value == null) {
            return null;
        }
        if (!(value instanceof List<?> list)) {
            throw new DataException(where + ": training detail must be a list of {begin_offset, end_offset, train}");
        }
        List<Span> spans = new ArrayList<>();
        for (Object o : list) {
            if (!(o instanceof Map<?, ?> m) || !(m.get("begin_offset") instanceof Number b)
                    || !(m.get("end_offset") instanceof Number e) || !(m.get("train") instanceof Boolean t)) {
                throw new DataException(where + ": training detail entry " + o + " is not {begin_offset, end_offset, "
                        + "train}");
            }
            spans.add(new Span(b.intValue(), e.intValue(), t));
        }
        return new TrainingDetail(List.copyOf(spans));
    }

    /**
     * Which tokens of the content are trained.
     *
     * @param charSpans each token's {@code [start, end)} in code points of the content
     * @param length the content's length in code points
     */
    boolean[] trainedTokens(int[][] charSpans, int length) {
        int n = charSpans.length;
        boolean[] out = new boolean[n];
        if (n == 0) {
            return out;
        }
        // each token covers up to the character before the next token's start (inclusive ends), the last to the end
        int[][] tok = new int[n][];
        for (int i = 0; i < n; i++) {
            tok[i] = new int[] {charSpans[i][0], i + 1 < n ? charSpans[i + 1][0] - 1 : length - 1};
        }
        for (Span s : spans) {
            int first = n;
            for (int i = 0; i < n; i++) {
                if (tok[i][0] >= s.begin()) {
                    first = i;
                    break;
                }
            }
            if (first > 0 && tok[first - 1][1] > s.begin()) {
                first--;
            }
            int last = -1;
            for (int i = n - 1; i >= 0; i--) {
                if (tok[i][1] <= s.end()) {
                    last = i;
                    break;
                }
            }
            if (last < n - 1 && tok[last + 1][0] < s.end()) {
                last++;
            }
            if (first > last || !s.train()) {
                continue;
            }
            int begin = tok[first][0];
            int end = tok[last][1];
            for (int i = 0; i < n; i++) {
                if (tok[i][0] >= begin && tok[i][1] <= end) {
                    out[i] = true;
                }
            }
        }
        return out;
    }
}
