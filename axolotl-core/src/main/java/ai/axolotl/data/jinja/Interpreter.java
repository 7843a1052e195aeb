package ai.axolotl.data.jinja;

import ai.axolotl.data.jinja.Node.Expr;
import ai.axolotl.data.jinja.Node.Stmt;
import ai.axolotl.data.jinja.PyValues.Callable;
import ai.axolotl.data.jinja.PyValues.Namespace;
import ai.axolotl.data.jinja.PyValues.Undefined;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static ai.axolotl.data.jinja.PyValues.str;
import static ai.axolotl.data.jinja.PyValues.truthy;
import static ai.axolotl.data.jinja.PyValues.typeName;

/** Runs a template's syntax tree over one set of variables. One instance per render. */
final class Interpreter {
    /** {@code break} / {@code continue}, unwinding to the innermost loop. */
    private static final class LoopControl extends RuntimeException {
        final boolean isBreak;

        LoopControl(boolean isBreak) {
            super(null, null, false, false);
            this.isBreak = isBreak;
        }
    }

    /** The {@code loop} variable of a for loop. */
    private static final class Loop {
        final List<Object> items;
        int index0;

        Loop(List<Object> items) {
            this.items = items;
        }
    }

    private final Deque<Map<String, Object>> scopes = new ArrayDeque<>();
    private int line;
    private int loopDepth;

    Interpreter(Map<String, Object> globals, Map<String, Object> variables) {
        scopes.push(new HashMap<>(globals));
        scopes.push(new HashMap<>(variables));
    }

    int line() {
        return line;
    }

    void run(List<Stmt> body, StringBuilder out) {
        for (Stmt s : body) {
            exec(s, out);
        }
    }

    private void exec(Stmt s, StringBuilder out) {
        if (s instanceof Node.Text t) {
            out.append(t.text());
        } else if (s instanceof Node.Print p) {
            line = p.line();
            out.append(str(eval(p.value())));
        } else if (s instanceof Node.If f) {
            line = f.line();
            for (int i = 0; i < f.conditions().size(); i++) {
                if (truthy(eval(f.conditions().get(i)))) {
                    run(f.bodies().get(i), out);
                    return;
                }
            }
            run(f.orElse(), out);
        } else if (s instanceof Node.For f) {
            forLoop(f, out);
        } else if (s instanceof Node.Set st) {
            line = st.line();
            assign(st);
        } else if (s instanceof Node.SetBlock sb) {
            StringBuilder captured = new StringBuilder();
            run(sb.body(), captured);
            scopes.peek().put(sb.name(), captured.toString());
        } else if (s instanceof Node.Macro m) {
            scopes.peek().put(m.name(), macro(m));
        } else if (s instanceof Node.Generation g) {
            run(g.body(), out);
        } else if (s instanceof Node.Break b) {
            line = b.line();
            if (loopDepth == 0) {
                throw new TemplateException("break outside a loop");
            }
            throw new LoopControl(true);
        } else if (s instanceof Node.Continue c) {
            line = c.line();
            if (loopDepth == 0) {
                throw new TemplateException("continue outside a loop");
            }
            throw new LoopControl(false);
        } else {
            throw new IllegalStateException("unknown statement " + s);
        }
    }

    private void assign(Node.Set st) {
        Object value = eval(st.value());
        if (st.attribute() != null) {
            Object target = lookup(st.names().get(0));
            if (!(target instanceof Namespace ns)) {
                throw new TemplateException("cannot assign attribute on non-namespace object '"
                        + st.names().get(0) + "'");
            }
            ns.attributes.put(st.attribute(), value);
            return;
        }
        if (st.names().size() == 1) {
            scopes.peek().put(st.names().get(0), value);
            return;
        }
        List<Object> parts = PyValues.iterate(value);
        if (parts.size() != st.names().size()) {
            throw new TemplateException("cannot unpack " + parts.size() + " values into " + st.names().size());
        }
        for (int i = 0; i < parts.size(); i++) {
            scopes.peek().put(st.names().get(i), parts.get(i));
        }
    }

    private void forLoop(Node.For f, StringBuilder out) {
        line = f.line();
        List<Object> items = PyValues.iterate(eval(f.iterable()));
        if (f.filter() != null) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                scopes.push(new HashMap<>());
                try {
                    bind(f.targets(), item);
                    if (truthy(eval(f.filter()))) {
                        kept.add(item);
                    }
                } finally {
                    scopes.pop();
                }
            }
            items = kept;
        }
        if (items.isEmpty()) {
            run(f.orElse(), out);
            return;
        }
        Loop loop = new Loop(items);
        loopDepth++;
        try {
            for (int i = 0; i < items.size(); i++) {
                loop.index0 = i;
                scopes.push(new HashMap<>());
                try {
                    scopes.peek().put("loop", loop);
                    bind(f.targets(), items.get(i));
                    run(f.body(), out);
                } catch (LoopControl c) {
                    if (c.isBreak) {
                        break;
                    }
                } finally {
                    scopes.pop();
                }
            }
        } finally {
            loopDepth--;
        }
    }

    private void bind(List<String> targets, Object item) {
        if (targets.size() == 1) {
            scopes.peek().put(targets.get(0), item);
            return;
        }
        List<Object> parts = PyValues.iterate(item);
        if (parts.size() != targets.size()) {
            throw new TemplateException("cannot unpack " + parts.size() + " values into " + targets.size()
                    + " loop variables");
        }
        for (int i = 0; i < parts.size(); i++) {
            scopes.peek().put(targets.get(i), parts.get(i));
        }
    }

    private Callable macro(Node.Macro m) {
        Map<String, Object> root = scopes.peekLast();
        Map<String, Object> definedIn = new HashMap<>(scopes.peek());
        return (args, kwargs) -> {
            if (args.size() > m.params().size()) {
                throw new TemplateException("macro '" + m.name() + "' takes " + m.params().size()
                        + " arguments, got " + args.size());
            }
            Map<String, Object> locals = new HashMap<>(definedIn);
            for (int i = 0; i < m.params().size(); i++) {
                String p = m.params().get(i);
                if (i < args.size()) {
                    locals.put(p, args.get(i));
                } else if (kwargs.containsKey(p)) {
                    locals.put(p, kwargs.get(p));
                } else if (m.defaults().get(i) != null) {
                    locals.put(p, eval(m.defaults().get(i)));
                } else {
                    locals.put(p, new Undefined("'" + p + "' is undefined"));
                }
            }
            Deque<Map<String, Object>> saved = new ArrayDeque<>(scopes);
            int savedDepth = loopDepth;
            scopes.clear();
            scopes.push(root);
            scopes.push(locals);
            loopDepth = 0;
            StringBuilder out = new StringBuilder();
            try {
                run(m.body(), out);
            } finally {
                scopes.clear();
                saved.descendingIterator().forEachRemaining(scopes::push);
                loopDepth = savedDepth;
            }
            return out.toString();
        };
    }

    private Object lookup(String name) {
        for (Map<String, Object> scope : scopes) {
            if (scope.containsKey(name)) {
                return scope.get(name);
            }
        }
        return new Undefined("'" + name + "' is undefined");
    }

    Object eval(Expr e) {
        if (e instanceof Node.Const c) {
            return c.value();
        }
        if (e instanceof Node.Name n) {
            return lookup(n.name());
        }
        if (e instanceof Node.Attr a) {
            return attribute(eval(a.object()), a.name());
        }
        if (e instanceof Node.Item it) {
            return item(eval(it.object()), eval(it.key()));
        }
        if (e instanceof Node.Slice sl) {
            return slice(eval(sl.object()), optional(sl.start()), optional(sl.stop()), optional(sl.step()));
        }
        if (e instanceof Node.Call c) {
            Object fn = eval(c.function());
            if (fn instanceof Undefined u) {
                throw new TemplateException(u.hint());
            }
            if (!(fn instanceof Callable callable)) {
                throw new TemplateException("'" + typeName(fn) + "' object is not callable");
            }
            List<Object> args = new ArrayList<>();
            for (Expr a : c.args()) {
                args.add(eval(a));
            }
            Map<String, Object> kwargs = new LinkedHashMap<>();
            c.kwargs().forEach((k, v) -> kwargs.put(k, eval(v)));
            return callable.call(args, kwargs);
        }
        if (e instanceof Node.Filter f) {
            Object v = eval(f.value());
            List<Object> args = new ArrayList<>();
            for (Expr a : f.args()) {
                args.add(eval(a));
            }
            Map<String, Object> kwargs = new LinkedHashMap<>();
            f.kwargs().forEach((k, x) -> kwargs.put(k, eval(x)));
            return Builtins.filter(f.name(), v, args, kwargs, this);
        }
        if (e instanceof Node.Test t) {
            List<Object> args = new ArrayList<>();
            for (Expr a : t.args()) {
                args.add(eval(a));
            }
            return Builtins.test(t.name(), eval(t.value()), args) != t.negated();
        }
        if (e instanceof Node.Binary b) {
            return arithmetic(b.op(), eval(b.left()), eval(b.right()));
        }
        if (e instanceof Node.Negate n) {
            Object v = eval(n.value());
            if (v instanceof Long l) {
                return -l;
            }
            if (v instanceof Double d) {
                return -d;
            }
            throw new TemplateException("bad operand type for unary -: '" + typeName(v) + "'");
        }
        if (e instanceof Node.Not n) {
            return !truthy(eval(n.value()));
        }
        if (e instanceof Node.And a) {
            Object l = eval(a.left());
            return truthy(l) ? eval(a.right()) : l;
        }
        if (e instanceof Node.Or o) {
            Object l = eval(o.left());
            return truthy(l) ? l : eval(o.right());
        }
        if (e instanceof Node.Compare c) {
            Object left = eval(c.first());
            for (int i = 0; i < c.ops().size(); i++) {
                Object right = eval(c.rest().get(i));
                if (!compare(c.ops().get(i), left, right)) {
                    return false;
                }
                left = right;
            }
            return true;
        }
        if (e instanceof Node.Conditional c) {
            if (truthy(eval(c.test()))) {
                return eval(c.then());
            }
            return c.otherwise() == null ? new Undefined("the condition was false and there is no else")
                    : eval(c.otherwise());
        }
        if (e instanceof Node.ListLiteral l) {
            List<Object> out = new ArrayList<>();
            for (Expr x : l.items()) {
                out.add(eval(x));
            }
            return out;
        }
        if (e instanceof Node.TupleLiteral t) {
            List<Object> out = new ArrayList<>();
            for (Expr x : t.items()) {
                out.add(eval(x));
            }
            return out;
        }
        if (e instanceof Node.DictLiteral d) {
            Map<Object, Object> out = new LinkedHashMap<>();
            for (int i = 0; i < d.keys().size(); i++) {
                out.put(eval(d.keys().get(i)), eval(d.values().get(i)));
            }
            return out;
        }
        throw new IllegalStateException("unknown expression " + e);
    }

    private Object optional(Expr e) {
        return e == null ? null : eval(e);
    }

    private static boolean compare(String op, Object l, Object r) {
        return switch (op) {
            case "==" -> PyValues.equal(l, r);
            case "!=" -> !PyValues.equal(l, r);
            case "<" -> PyValues.compare(l, r) < 0;
            case ">" -> PyValues.compare(l, r) > 0;
            case "<=" -> PyValues.compare(l, r) <= 0;
            case ">=" -> PyValues.compare(l, r) >= 0;
            case "in" -> PyValues.contains(r, l);
            case "not in" -> !PyValues.contains(r, l);
            default -> throw new IllegalStateException(op);
        };
    }

    /** Python's arithmetic and Jinja's {@code ~}. */
    static Object arithmetic(String op, Object l, Object r) {
        if (op.equals("~")) {
            return str(l) + str(r);
        }
        if (l instanceof Undefined u) {
            throw new TemplateException(u.hint());
        }
        if (r instanceof Undefined u) {
            throw new TemplateException(u.hint());
        }
        if (op.equals("+")) {
            if (l instanceof String a && r instanceof String b) {
                return a + b;
            }
            if (l instanceof List<?> a && r instanceof List<?> b) {
                List<Object> out = new ArrayList<>(a);
                out.addAll(b);
                return out;
            }
        }
        if (op.equals("*") && (l instanceof String || l instanceof List) && r instanceof Long n) {
            return repeat(l, n);
        }
        if (op.equals("*") && (r instanceof String || r instanceof List) && l instanceof Long n) {
            return repeat(r, n);
        }
        if (!PyValues.isNumber(l) || !PyValues.isNumber(r)) {
            throw new TemplateException("unsupported operand type(s) for " + op + ": '" + typeName(l) + "' and '"
                    + typeName(r) + "'");
        }
        boolean ints = !(l instanceof Double) && !(r instanceof Double);
        if (ints && !op.equals("/")) {
            long a = PyValues.asLong(l);
            long b = PyValues.asLong(r);
            return switch (op) {
                case "+" -> a + b;
                case "-" -> a - b;
                case "*" -> a * b;
                case "//" -> {
                    if (b == 0) {
                        throw new TemplateException("integer division or modulo by zero");
                    }
                    yield Math.floorDiv(a, b);
                }
                case "%" -> {
                    if (b == 0) {
                        throw new TemplateException("integer division or modulo by zero");
                    }
                    yield Math.floorMod(a, b);
                }
                case "**" -> b >= 0 ? (Object) (long) Math.pow(a, b) : (Object) Math.pow(a, b);
                default -> throw new IllegalStateException(op);
            };
        }
        double a = PyValues.asDouble(l);
        double b = PyValues.asDouble(r);
        if (b == 0 && (op.equals("/") || op.equals("//") || op.equals("%"))) {
            throw new TemplateException("division by zero");
        }
        return switch (op) {
            case "+" -> a + b;
            case "-" -> a - b;
            case "*" -> a * b;
            case "/" -> a / b;
            case "//" -> Math.floor(a / b);
            case "%" -> a - b * Math.floor(a / b);
            case "**" -> Math.pow(a, b);
            default -> throw new IllegalStateException(op);
        };
    }

    private static Object repeat(Object v, long n) {
        if (v instanceof String s) {
            return s.repeat((int) Math.max(0, n));
        }
        List<Object> out = new ArrayList<>();
        for (long i = 0; i < n; i++) {
            out.addAll((List<?>) v);
        }
        return out;
    }

    /** Jinja's {@code getattr}: methods, then dict keys, namespace and loop attributes; otherwise undefined. */
    Object attribute(Object obj, String name) {
        if (obj instanceof Undefined u) {
            throw new TemplateException(u.hint());
        }
        if (obj instanceof Namespace ns) {
            return ns.attributes.containsKey(name) ? ns.attributes.get(name)
                    : new Undefined("'Namespace' object has no attribute '" + name + "'");
        }
        if (obj instanceof Loop loop) {
            return loopAttribute(loop, name);
        }
        Callable m = Builtins.method(obj, name);
        if (m != null) {
            return m;
        }
        if (obj instanceof Map<?, ?> map && map.containsKey(name)) {
            return map.get(name);
        }
        return new Undefined("'" + typeName(obj) + " object' has no attribute '" + name + "'");
    }

    private static Object loopAttribute(Loop loop, String name) {
        int n = loop.items.size();
        int i = loop.index0;
        return switch (name) {
            case "index" -> (long) i + 1;
            case "index0" -> (long) i;
            case "revindex" -> (long) (n - i);
            case "revindex0" -> (long) (n - i - 1);
            case "first" -> i == 0;
            case "last" -> i == n - 1;
            case "length" -> (long) n;
            case "previtem" -> i > 0 ? loop.items.get(i - 1) : new Undefined("there is no previous item");
            case "nextitem" -> i < n - 1 ? loop.items.get(i + 1) : new Undefined("there is no next item");
            case "cycle" -> (Callable) (args, kw) -> args.isEmpty() ? new Undefined("cycle of nothing")
                    : args.get(i % args.size());
            default -> new Undefined("'loop' has no attribute '" + name + "'");
        };
    }

    /** Jinja's {@code getitem}: subscripts, falling back to attributes for string keys. */
    private Object item(Object obj, Object key) {
        if (obj instanceof Undefined u) {
            throw new TemplateException(u.hint());
        }
        if (obj instanceof List<?> l && key instanceof Long k) {
            long i = k < 0 ? l.size() + k : k;
            return i >= 0 && i < l.size() ? l.get((int) i)
                    : new Undefined("list object has no element " + k);
        }
        if (obj instanceof String s && key instanceof Long k) {
            int[] cps = s.codePoints().toArray();
            long i = k < 0 ? cps.length + k : k;
            return i >= 0 && i < cps.length ? new String(Character.toChars(cps[(int) i]))
                    : new Undefined("string index out of range");
        }
        if (obj instanceof Map<?, ?> m) {
            if (m.containsKey(key)) {
                return m.get(key);
            }
            if (key instanceof Long k) {
                return new Undefined("'dict object' has no attribute '" + k + "'");
            }
        }
        if (key instanceof String name) {
            return attribute(obj, name);
        }
        return new Undefined("'" + typeName(obj) + " object' has no element " + PyValues.repr(key));
    }

    /** Python's slice semantics on lists and strings. */
    private static Object slice(Object obj, Object start, Object stop, Object step) {
        if (obj instanceof Undefined u) {
            throw new TemplateException(u.hint());
        }
        List<Object> items;
        boolean string = obj instanceof String;
        if (obj instanceof String s) {
            items = new ArrayList<>();
            s.codePoints().forEach(c -> items.add(new String(Character.toChars(c))));
        } else if (obj instanceof List<?> l) {
            items = new ArrayList<>(l);
        } else {
            throw new TemplateException("'" + typeName(obj) + "' object is not subscriptable");
        }
        int n = items.size();
        long st = step == null ? 1 : PyValues.asLong(step);
        if (st == 0) {
            throw new TemplateException("slice step cannot be zero");
        }
        long lo;
        long hi;
        if (st > 0) {
            lo = start == null ? 0 : clamp(PyValues.asLong(start), n, 0, n);
            hi = stop == null ? n : clamp(PyValues.asLong(stop), n, 0, n);
        } else {
            lo = start == null ? n - 1 : clamp(PyValues.asLong(start), n, -1, n - 1);
            hi = stop == null ? -1 : clamp(PyValues.asLong(stop), n, -1, n - 1);
        }
        List<Object> out = new ArrayList<>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) {
            out.add(items.get((int) i));
        }
        if (string) {
            StringBuilder b = new StringBuilder();
            out.forEach(b::append);
            return b.toString();
        }
        return out;
    }

    private static long clamp(long index, int n, long min, long max) {
        long i = index < 0 ? index + n : index;
        return Math.max(min, Math.min(max, i));
    }
}
