package ai.axolotl.data.jinja;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into text, output ({@code {{ }}}) and statement ({@code {% %}}) segments the way Jinja2's
 * lexer does under transformers' settings: {@code -} strips whitespace beside a tag, {@code trim_blocks} drops the
 * newline after a statement or comment, {@code lstrip_blocks} drops the indentation before one ({@code +}
 * disables it), one trailing newline of the source is dropped, and {@code raw} blocks are copied verbatim. Tag
 * contents are cut into expression tokens.
 */
final class Lexer {
    enum Kind { NAME, STRING, INT, FLOAT, OP, END }

    record Token(Kind kind, String text, Object value) {
        boolean is(String op) {
            return (kind == Kind.OP || kind == Kind.NAME) && text.equals(op);
        }
    }

    /** A text run, an output tag or a statement tag; {@code line} is 1-based. */
    record Segment(char type, String text, List<Token> tokens, int line) {}

    private static final String[] OPS = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
        "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="};

    private final String name;
    private final String src;

    Lexer(String name, String source) {
        this.name = name;
        String s = source;
        if (s.endsWith("\r\n")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("\n")) {
            s = s.substring(0, s.length() - 1);
        }
        this.src = s;
    }

    List<Segment> segments() {
        List<Segment> out = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        int pos = 0;
        boolean stripNext = false;
        boolean trimNewline = false;
        while (pos < src.length()) {
            int open = nextOpen(pos);
            String data = src.substring(pos, open < 0 ? src.length() : open);
            if (stripNext) {
                data = stripLeading(data);
            } else if (trimNewline) {
                if (data.startsWith("\r\n")) {
                    data = data.substring(2);
                } else if (data.startsWith("\n")) {
                    data = data.substring(1);
                }
            }
            stripNext = false;
            trimNewline = false;
            if (open < 0) {
                text.append(data);
                break;
            }
            char kind = src.charAt(open + 1);
            int inner = open + 2;
            char mod = inner < src.length() ? src.charAt(inner) : 0;
            if (mod == '-') {
                data = stripTrailing(data);
                inner++;
            } else if (mod == '+') {
                inner++;
            } else if (kind != '{') {
                data = lstripBlock(data, open);
            }
            text.append(data);
            int line = lineOf(open);
            if (kind == '#') {
                int close = src.indexOf("#}", inner);
                if (close < 0) {
                    throw error(line, "comment is not closed");
                }
                stripNext = src.charAt(close - 1) == '-';
                trimNewline = true;
                pos = close + 2;
                continue;
            }
            String closer = kind == '{' ? "}}" : "%}";
            int close = findClose(inner, closer, line);
            boolean dash = close > inner && src.charAt(close - 1) == '-';
            String body = src.substring(inner, dash ? close - 1 : close);
            pos = close + 2;
            stripNext = dash;
            trimNewline = kind == '%' && !dash;
            List<Token> tokens = tokenize(body, line);
            if (!text.isEmpty()) {
                out.add(new Segment('t', text.toString(), null, line));
                text.setLength(0);
            }
            if (kind == '%' && tokens.size() == 2 && tokens.get(0).is("raw")) {
                pos = raw(pos, out, line);
                stripNext = false;
                trimNewline = true;
                continue;
            }
            out.add(new Segment(kind == '{' ? 'o' : 's', body, tokens, line));
        }
        if (!text.isEmpty()) {
            out.add(new Segment('t', text.toString(), null, lineOf(src.length())));
        }
        return out;
    }

    /** Copies text verbatim up to {@code {% endraw %}}; returns the position after it. */
    private int raw(int pos, List<Segment> out, int line) {
        int search = pos;
        while (true) {
            int open = src.indexOf("{%", search);
            if (open < 0) {
                throw error(line, "raw block is not closed with endraw");
            }
            int inner = open + 2;
            boolean leftDash = inner < src.length() && src.charAt(inner) == '-';
            int close = src.indexOf("%}", inner);
            if (close < 0) {
                throw error(line, "raw block is not closed with endraw");
            }
            String body = src.substring(leftDash ? inner + 1 : inner, close);
            if (body.endsWith("-")) {
                body = body.substring(0, body.length() - 1);
            }
            if (body.trim().equals("endraw")) {
                String data = src.substring(pos, open);
                if (leftDash) {
                    data = stripTrailing(data);
                }
                out.add(new Segment('t', data, null, line));
                return close + 2;
            }
            search = close + 2;
        }
    }

    private int nextOpen(int from) {
        int i = from;
        while (true) {
            int j = src.indexOf('{', i);
            if (j < 0 || j + 1 >= src.length()) {
                return -1;
            }
            char c = src.charAt(j + 1);
            if (c == '{' || c == '%' || c == '#') {
                return j;
            }
            i = j + 1;
        }
    }

    /** The closer of a tag, skipping string literals that contain it. */
    private int findClose(int from, String closer, int line) {
        int i = from;
        while (i < src.length()) {
            char c = src.charAt(i);
            if (c == '\'' || c == '"') {
                int j = i + 1;
                while (j < src.length() && src.charAt(j) != c) {
                    j += src.charAt(j) == '\\' ? 2 : 1;
                }
                i = j + 1;
                continue;
            }
            if (src.startsWith(closer, i)) {
                return i;
            }
            i++;
        }
        throw error(line, "tag is not closed with '" + closer + "'");
    }

    /** lstrip_blocks: the indentation of a line (in the source) before a statement or comment tag is dropped. */
    private String lstripBlock(String data, int open) {
        int k = 0;
        while (open - k > 0 && (src.charAt(open - k - 1) == ' ' || src.charAt(open - k - 1) == '\t')) {
            k++;
        }
        boolean lineStart = open - k == 0 || src.charAt(open - k - 1) == '\n';
        if (!lineStart) {
            return data;
        }
        int i = data.length();
        while (i > 0 && data.length() - i < k && (data.charAt(i - 1) == ' ' || data.charAt(i - 1) == '\t')) {
            i--;
        }
        return data.substring(0, i);
    }

    private static String stripLeading(String s) {
        int i = 0;
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
            i++;
        }
        return s.substring(i);
    }

    private static String stripTrailing(String s) {
        int i = s.length();
        while (i > 0 && Character.isWhitespace(s.charAt(i - 1))) {
            i--;
        }
        return s.substring(0, i);
    }

    private int lineOf(int pos) {
        int line = 1;
        for (int i = 0; i < pos && i < src.length(); i++) {
            if (src.charAt(i) == '\n') {
                line++;
            }
        }
        return line;
    }

    private TemplateException error(int line, String what) {
        return new TemplateException(name + ":" + line + ": " + what);
    }

    private List<Token> tokenize(String s, int line) {
        List<Token> out = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (Character.isLetter(c) || c == '_') {
                int j = i;
                while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                    j++;
                }
                out.add(new Token(Kind.NAME, s.substring(i, j), null));
                i = j;
            } else if (Character.isDigit(c)) {
                int j = i;
                boolean flt = false;
                while (j < s.length() && (Character.isDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                    j++;
                }
                if (j + 1 < s.length() && s.charAt(j) == '.' && Character.isDigit(s.charAt(j + 1))) {
                    flt = true;
                    j++;
                    while (j < s.length() && Character.isDigit(s.charAt(j))) {
                        j++;
                    }
                }
                if (j < s.length() && (s.charAt(j) == 'e' || s.charAt(j) == 'E')) {
                    int k = j + 1;
                    if (k < s.length() && (s.charAt(k) == '+' || s.charAt(k) == '-')) {
                        k++;
                    }
                    if (k < s.length() && Character.isDigit(s.charAt(k))) {
                        flt = true;
                        j = k;
                        while (j < s.length() && Character.isDigit(s.charAt(j))) {
                            j++;
                        }
                    }
                }
                String lit = s.substring(i, j).replace("_", "");
                out.add(flt ? new Token(Kind.FLOAT, lit, Double.parseDouble(lit))
                        : new Token(Kind.INT, lit, Long.parseLong(lit)));
                i = j;
            } else if (c == '\'' || c == '"') {
                StringBuilder b = new StringBuilder();
                int j = i + 1;
                while (true) {
                    if (j >= s.length()) {
                        throw error(line, "string literal is not closed");
                    }
                    char d = s.charAt(j);
                    if (d == c) {
                        break;
                    }
                    if (d == '\\' && j + 1 < s.length()) {
                        j = unescape(s, j + 1, b, line);
                        continue;
                    }
                    b.append(d);
                    j++;
                }
                // adjacent string literals are joined, as in Python
                if (!out.isEmpty() && out.get(out.size() - 1).kind() == Kind.STRING) {
                    Token prev = out.remove(out.size() - 1);
                    b.insert(0, (String) prev.value());
                }
                out.add(new Token(Kind.STRING, b.toString(), b.toString()));
                i = j + 1;
            } else {
                String op = null;
                for (String o : OPS) {
                    if (s.startsWith(o, i)) {
                        op = o;
                        break;
                    }
                }
                if (op == null) {
                    throw error(line, "unexpected character '" + c + "'");
                }
                out.add(new Token(Kind.OP, op, null));
                i += op.length();
            }
        }
        out.add(new Token(Kind.END, "", null));
        return out;
    }

    /** Python's string escapes; returns the index after the escape. */
    private int unescape(String s, int j, StringBuilder b, int line) {
        char e = s.charAt(j);
        switch (e) {
            case 'n' -> b.append('\n');
            case 't' -> b.append('\t');
            case 'r' -> b.append('\r');
            case '0' -> b.append('\0');
            case 'b' -> b.append('\b');
            case 'f' -> b.append('\f');
            case 'v' -> b.append('\u000b');
            case 'a' -> b.append('\u0007');
            case '\\', '\'', '"' -> b.append(e);
            case '\n' -> { }
            case 'x', 'u', 'U' -> {
                int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                if (j + 1 + n > s.length()) {
                    throw error(line, "truncated \\" + e + " escape");
                }
                b.appendCodePoint(Integer.parseInt(s.substring(j + 1, j + 1 + n), 16));
                return j + 1 + n;
            }
            default -> b.append('\\').append(e);
        }
        return j + 1;
    }
}
