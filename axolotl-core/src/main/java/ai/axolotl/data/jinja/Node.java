package ai.axolotl.data.jinja;

import java.util.List;
import java.util.Map;

/** The syntax tree of a template: statements and expressions. */
final class Node {
    private Node() {}

    /** A statement; {@code line} is where its tag starts. */
    interface Stmt {}

    /** An expression. */
    interface Expr {}

    record Text(String text) implements Stmt {}

    record Print(Expr value, int line) implements Stmt {}

    record If(List<Expr> conditions, List<List<Stmt>> bodies, List<Stmt> orElse, int line) implements Stmt {}

    record For(List<String> targets, Expr iterable, Expr filter, List<Stmt> body, List<Stmt> orElse, int line)
            implements Stmt {}

    /** {@code set name = value}, {@code set ns.attr = value}, or {@code set a, b = value} (names). */
    record Set(List<String> names, String attribute, Expr value, int line) implements Stmt {}

    record SetBlock(String name, List<Stmt> body, int line) implements Stmt {}

    record Macro(String name, List<String> params, List<Expr> defaults, List<Stmt> body, int line)
            implements Stmt {}

    record Generation(List<Stmt> body) implements Stmt {}

    record Break(int line) implements Stmt {}

    record Continue(int line) implements Stmt {}

    record Const(Object value) implements Expr {}

    record Name(String name) implements Expr {}

    record Attr(Expr object, String name) implements Expr {}

    record Item(Expr object, Expr key) implements Expr {}

    record Slice(Expr object, Expr start, Expr stop, Expr step) implements Expr {}

    record Call(Expr function, List<Expr> args, Map<String, Expr> kwargs) implements Expr {}

    record Filter(Expr value, String name, List<Expr> args, Map<String, Expr> kwargs) implements Expr {}

    record Test(Expr value, String name, List<Expr> args, boolean negated) implements Expr {}

    record Binary(String op, Expr left, Expr right) implements Expr {}

    record Negate(Expr value) implements Expr {}

    record Not(Expr value) implements Expr {}

    record And(Expr left, Expr right) implements Expr {}

    record Or(Expr left, Expr right) implements Expr {}

    record Compare(Expr first, List<String> ops, List<Expr> rest) implements Expr {}

    record Conditional(Expr test, Expr then, Expr otherwise) implements Expr {}

    record ListLiteral(List<Expr> items) implements Expr {}

    record TupleLiteral(List<Expr> items) implements Expr {}

    record DictLiteral(List<Expr> keys, List<Expr> values) implements Expr {}
}
