package ai.axolotl.data.jinja;

import ai.axolotl.data.jinja.Lexer.Kind;
import ai.axolotl.data.jinja.Lexer.Segment;
import ai.axolotl.data.jinja.Lexer.Token;
import ai.axolotl.data.jinja.Node.Expr;
import ai.axolotl.data.jinja.Node.Stmt;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Builds the syntax tree of a template from its segments, with Jinja2's operator precedence. */
final class Parser {
    private static final Set<String> COMPARE = Set.of("==", "!=", "<", ">", "<=", ">=");
    private final String name;
    private final List<Segment> segments;
    private int seg;
    private List<Token> tokens;
    private int pos;
    private int line;

    Parser(String name, List<Segment> segments) {
        this.name = name;
        this.segments = segments;
    }

    List<Stmt> parse() {
        List<Stmt> body = body(Set.of());
        if (seg < segments.size()) {
            throw error("unexpected '" + keyword(segments.get(seg)) + "'");
        }
        return body;
    }

    private static String keyword(Segment s) {
        return s.tokens().get(0).text();
    }

    /** Statements up to (not consuming) a statement tag whose keyword is in {@code ends}. */
    private List<Stmt> body(Set<String> ends) {
        List<Stmt> out = new ArrayList<>();
        while (seg < segments.size()) {
            Segment s = segments.get(seg);
            line = s.line();
            if (s.type() == 't') {
                out.add(new Node.Text(s.text()));
                seg++;
                continue;
            }
            begin(s);
            if (s.type() == 'o') {
                Expr e = expression();
                expectEnd();
                out.add(new Node.Print(e, s.line()));
                seg++;
                continue;
            }
            Token kw = tokens.get(0);
            if (kw.kind() != Kind.NAME) {
                throw error("expected a statement name, found '" + kw.text() + "'");
            }
            if (ends.contains(kw.text())) {
                return out;
            }
            pos = 1;
            seg++;
            out.add(statement(kw.text(), s.line()));
        }
        if (!ends.isEmpty()) {
            throw error("missing " + String.join(" or ", ends.stream().sorted().toList()));
        }
        return out;
    }

    private void begin(Segment s) {
        tokens = s.tokens();
        pos = 0;
        line = s.line();
    }

    /** Enters the statement tag at {@code seg} (an end/else tag found by {@link #body}). */
    private String enterTag() {
        Segment s = segments.get(seg);
        begin(s);
        pos = 1;
        seg++;
        return s.tokens().get(0).text();
    }

    private Stmt statement(String kw, int at) {
        switch (kw) {
            case "if" -> {
                List<Expr> conds = new ArrayList<>();
                List<List<Stmt>> bodies = new ArrayList<>();
                conds.add(expression());
                expectEnd();
                List<Stmt> orElse = List.of();
                while (true) {
                    bodies.add(body(Set.of("elif", "else", "endif")));
                    String tag = enterTag();
                    if (tag.equals("elif")) {
                        conds.add(expression());
                        expectEnd();
                    } else if (tag.equals("else")) {
                        expectEnd();
                        orElse = body(Set.of("endif"));
                        enterTag();
                        expectEnd();
                        break;
                    } else {
                        expectEnd();
                        break;
                    }
                }
                return new Node.If(conds, bodies, orElse, at);
            }
            case "for" -> {
                List<String> targets = new ArrayList<>();
                targets.add(name());
                while (peek().is(",")) {
                    pos++;
                    targets.add(name());
                }
                expectName("in");
                Expr iter = noConditional();
                Expr filter = null;
                if (peek().is("if")) {
                    pos++;
                    filter = noConditional();
                }
                if (peek().is("recursive")) {
                    throw error("recursive for loops are not supported");
                }
                expectEnd();
                List<Stmt> body = body(Set.of("else", "endfor"));
                List<Stmt> orElse = List.of();
                if (enterTag().equals("else")) {
                    expectEnd();
                    orElse = body(Set.of("endfor"));
                    enterTag();
                }
                expectEnd();
                return new Node.For(targets, iter, filter, body, orElse, at);
            }
            case "set" -> {
                List<String> names = new ArrayList<>();
                names.add(name());
                String attribute = null;
                if (peek().is(".")) {
                    pos++;
                    attribute = name();
                }
                while (peek().is(",")) {
                    pos++;
                    names.add(name());
                }
                if (peek().kind() == Kind.END && attribute == null && names.size() == 1) {
                    List<Stmt> body = body(Set.of("endset"));
                    enterTag();
                    expectEnd();
                    return new Node.SetBlock(names.get(0), body, at);
                }
                expectOp("=");
                Expr value = tupleOrExpression();
                expectEnd();
                return new Node.Set(names, attribute, value, at);
            }
            case "macro" -> {
                String macro = name();
                expectOp("(");
                List<String> params = new ArrayList<>();
                List<Expr> defaults = new ArrayList<>();
                while (!peek().is(")")) {
                    params.add(name());
                    if (peek().is("=")) {
                        pos++;
                        defaults.add(expression());
                    } else {
                        defaults.add(null);
                    }
                    if (!peek().is(")")) {
                        expectOp(",");
                    }
                }
                pos++;
                expectEnd();
                List<Stmt> body = body(Set.of("endmacro"));
                enterTag();
                expectEnd();
                return new Node.Macro(macro, params, defaults, body, at);
            }
            case "generation" -> {
                expectEnd();
                List<Stmt> body = body(Set.of("endgeneration"));
                enterTag();
                expectEnd();
                return new Node.Generation(body);
            }
            case "break" -> {
                expectEnd();
                return new Node.Break(at);
            }
            case "continue" -> {
                expectEnd();
                return new Node.Continue(at);
            }
            default -> throw error("the '" + kw + "' statement is not supported");
        }
    }

    private Token peek() {
        return tokens.get(pos);
    }

    private Token next() {
        return tokens.get(pos++);
    }

    private String name() {
        Token t = next();
        if (t.kind() != Kind.NAME) {
            throw error("expected a name, found '" + t.text() + "'");
        }
        return t.text();
    }

    private void expectName(String n) {
        Token t = next();
        if (!(t.kind() == Kind.NAME && t.text().equals(n))) {
            throw error("expected '" + n + "', found '" + t.text() + "'");
        }
    }

    private void expectOp(String op) {
        Token t = next();
        if (!(t.kind() == Kind.OP && t.text().equals(op))) {
            throw error("expected '" + op + "', found '" + (t.kind() == Kind.END ? "end of tag" : t.text()) + "'");
        }
    }

    private void expectEnd() {
        if (peek().kind() != Kind.END) {
            throw error("unexpected '" + peek().text() + "'");
        }
    }

    private TemplateException error(String what) {
        return new TemplateException(name + ":" + line + ": " + what);
    }

    private Expr tupleOrExpression() {
        Expr first = expression();
        if (!peek().is(",")) {
            return first;
        }
        List<Expr> items = new ArrayList<>(List.of(first));
        while (peek().is(",")) {
            pos++;
            items.add(expression());
        }
        return new Node.TupleLiteral(items);
    }

    Expr expression() {
        Expr e = or();
        while (peek().is("if")) {
            pos++;
            Expr test = or();
            Expr otherwise = null;
            if (peek().is("else")) {
                pos++;
                otherwise = expression();
            }
            e = new Node.Conditional(test, e, otherwise);
        }
        return e;
    }

    /** An expression without a trailing {@code x if c} (the iterable of a for loop, which may have a filter). */
    private Expr noConditional() {
        return or();
    }

    private Expr or() {
        Expr e = and();
        while (peek().is("or")) {
            pos++;
            e = new Node.Or(e, and());
        }
        return e;
    }

    private Expr and() {
        Expr e = not();
        while (peek().is("and")) {
            pos++;
            e = new Node.And(e, not());
        }
        return e;
    }

    private Expr not() {
        if (peek().is("not")) {
            pos++;
            return new Node.Not(not());
        }
        return compare();
    }

    private Expr compare() {
        Expr first = math1();
        List<String> ops = new ArrayList<>();
        List<Expr> rest = new ArrayList<>();
        while (true) {
            Token t = peek();
            if (t.kind() == Kind.OP && COMPARE.contains(t.text())) {
                pos++;
                ops.add(t.text());
            } else if (t.is("in")) {
                pos++;
                ops.add("in");
            } else if (t.is("not") && tokens.get(pos + 1).is("in")) {
                pos += 2;
                ops.add("not in");
            } else {
                break;
            }
            rest.add(math1());
        }
        return ops.isEmpty() ? first : new Node.Compare(first, ops, rest);
    }

    private Expr math1() {
        Expr e = concat();
        while (peek().kind() == Kind.OP && (peek().text().equals("+") || peek().text().equals("-"))) {
            e = new Node.Binary(next().text(), e, concat());
        }
        return e;
    }

    private Expr concat() {
        Expr e = math2();
        while (peek().is("~")) {
            pos++;
            e = new Node.Binary("~", e, math2());
        }
        return e;
    }

    private Expr math2() {
        Expr e = pow();
        while (peek().kind() == Kind.OP && Set.of("*", "/", "//", "%").contains(peek().text())) {
            e = new Node.Binary(next().text(), e, pow());
        }
        return e;
    }

    private Expr pow() {
        Expr e = unary(true);
        while (peek().is("**")) {
            pos++;
            e = new Node.Binary("**", e, unary(true));
        }
        return e;
    }

    private Expr unary(boolean withFilter) {
        Expr e;
        if (peek().kind() == Kind.OP && peek().text().equals("-")) {
            pos++;
            e = new Node.Negate(unary(false));
        } else if (peek().kind() == Kind.OP && peek().text().equals("+")) {
            pos++;
            e = unary(false);
        } else {
            e = primary();
        }
        e = postfix(e);
        return withFilter ? filters(e) : e;
    }

    private Expr primary() {
        Token t = next();
        switch (t.kind()) {
            case STRING, INT, FLOAT -> {
                return new Node.Const(t.value());
            }
            case NAME -> {
                return switch (t.text()) {
                    case "true", "True" -> new Node.Const(Boolean.TRUE);
                    case "false", "False" -> new Node.Const(Boolean.FALSE);
                    case "none", "None" -> new Node.Const(null);
                    default -> new Node.Name(t.text());
                };
            }
            case OP -> {
                switch (t.text()) {
                    case "(" -> {
                        if (peek().is(")")) {
                            pos++;
                            return new Node.TupleLiteral(List.of());
                        }
                        Expr e = expression();
                        if (peek().is(",")) {
                            List<Expr> items = new ArrayList<>(List.of(e));
                            while (peek().is(",")) {
                                pos++;
                                if (peek().is(")")) {
                                    break;
                                }
                                items.add(expression());
                            }
                            expectOp(")");
                            return new Node.TupleLiteral(items);
                        }
                        expectOp(")");
                        return e;
                    }
                    case "[" -> {
                        List<Expr> items = new ArrayList<>();
                        while (!peek().is("]")) {
                            items.add(expression());
                            if (!peek().is("]")) {
                                expectOp(",");
                            }
                        }
                        pos++;
                        return new Node.ListLiteral(items);
                    }
                    case "{" -> {
                        List<Expr> keys = new ArrayList<>();
                        List<Expr> values = new ArrayList<>();
                        while (!peek().is("}")) {
                            keys.add(expression());
                            expectOp(":");
                            values.add(expression());
                            if (!peek().is("}")) {
                                expectOp(",");
                            }
                        }
                        pos++;
                        return new Node.DictLiteral(keys, values);
                    }
                    default -> throw error("unexpected '" + t.text() + "'");
                }
            }
            default -> throw error("unexpected end of expression");
        }
    }

    private Expr postfix(Expr e) {
        while (true) {
            Token t = peek();
            if (t.is(".")) {
                pos++;
                Token n = next();
                if (n.kind() == Kind.NAME) {
                    e = new Node.Attr(e, n.text());
                } else if (n.kind() == Kind.INT) {
                    e = new Node.Item(e, new Node.Const(n.value()));
                } else {
                    throw error("expected an attribute name after '.'");
                }
            } else if (t.is("[")) {
                pos++;
                e = subscript(e);
            } else if (t.is("(")) {
                pos++;
                e = call(e);
            } else {
                return e;
            }
        }
    }

    private Expr subscript(Expr obj) {
        Expr[] parts = new Expr[3];
        int part = 0;
        boolean slice = false;
        while (!peek().is("]")) {
            if (peek().is(":")) {
                pos++;
                slice = true;
                part++;
                if (part > 2) {
                    throw error("a slice has at most three parts");
                }
                continue;
            }
            parts[part] = expression();
        }
        pos++;
        if (!slice) {
            if (parts[0] == null) {
                throw error("empty subscript");
            }
            return new Node.Item(obj, parts[0]);
        }
        return new Node.Slice(obj, parts[0], parts[1], parts[2]);
    }

    private Node.Call call(Expr fn) {
        List<Expr> args = new ArrayList<>();
        Map<String, Expr> kwargs = new LinkedHashMap<>();
        arguments(args, kwargs);
        return new Node.Call(fn, args, kwargs);
    }

    /** Arguments after an opening parenthesis, through the closing one. */
    private void arguments(List<Expr> args, Map<String, Expr> kwargs) {
        while (!peek().is(")")) {
            if (peek().kind() == Kind.NAME && tokens.get(pos + 1).is("=")) {
                String k = next().text();
                pos++;
                kwargs.put(k, expression());
            } else {
                if (!kwargs.isEmpty()) {
                    throw error("a positional argument follows a keyword argument");
                }
                args.add(expression());
            }
            if (!peek().is(")")) {
                expectOp(",");
            }
        }
        pos++;
    }

    private Expr filters(Expr e) {
        while (true) {
            Token t = peek();
            if (t.is("|")) {
                pos++;
                String f = name();
                if (!Builtins.FILTERS.contains(f)) {
                    throw error("the filter '" + f + "' is not supported");
                }
                List<Expr> args = new ArrayList<>();
                Map<String, Expr> kwargs = new LinkedHashMap<>();
                if (peek().is("(")) {
                    pos++;
                    arguments(args, kwargs);
                }
                e = postfix(new Node.Filter(e, f, args, kwargs));
            } else if (t.is("is")) {
                pos++;
                boolean negated = false;
                if (peek().is("not")) {
                    pos++;
                    negated = true;
                }
                Token n = next();
                String test = n.kind() == Kind.NAME ? n.text() : null;
                if (n.kind() == Kind.NAME && Set.of("none", "true", "false").contains(test)) {
                    test = test.toLowerCase();
                } else if (n.kind() == Kind.NAME && Set.of("None", "True", "False").contains(test)) {
                    test = test.toLowerCase();
                }
                if (test == null || !Builtins.TESTS.contains(test)) {
                    throw error("the test '" + n.text() + "' is not supported");
                }
                List<Expr> args = new ArrayList<>();
                if (peek().is("(")) {
                    pos++;
                    Map<String, Expr> kwargs = new LinkedHashMap<>();
                    arguments(args, kwargs);
                } else if (startsArgument(peek())) {
                    args.add(postfix(primary()));
                }
                e = new Node.Test(e, test, args, negated);
            } else {
                return e;
            }
        }
    }

    private static boolean startsArgument(Token t) {
        return switch (t.kind()) {
            case STRING, INT, FLOAT -> true;
            case NAME -> !Set.of("else", "or", "and", "if", "in", "not", "is").contains(t.text());
            case OP -> t.text().equals("[") || t.text().equals("{");
            default -> false;
        };
    }
}
