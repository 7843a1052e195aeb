package ai.axolotl.data.jinja;

import ai.axolotl.data.jinja.PyValues.Callable;
import ai.axolotl.data.jinja.PyValues.Namespace;
import ai.axolotl.data.jinja.PyValues.Undefined;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import static ai.axolotl.data.jinja.PyValues.str;
import static ai.axolotl.data.jinja.PyValues.truthy;
import static ai.axolotl.data.jinja.PyValues.typeName;

/** The filters, tests, methods and globals templates can use; anything else is refused when compiling. */
final class Builtins {
    private Builtins() {}

    static final Set<String> FILTERS = Set.of("trim", "length", "count", "tojson", "upper", "lower", "title",
            "capitalize", "replace", "join", "default", "d", "first", "last", "list", "reverse", "items", "string",
            "int", "float", "abs", "round", "selectattr", "rejectattr", "select", "reject", "map", "unique",
            "indent", "safe", "sort", "dictsort", "wordcount", "min", "max", "sum", "batch", "striptags");

    static final Set<String> TESTS = Set.of("defined", "undefined", "none", "string", "number", "integer",
            "float", "boolean", "true", "false", "mapping", "iterable", "sequence", "callable", "even", "odd",
            "divisibleby", "eq", "equalto", "ne", "lt", "gt", "le", "ge", "in", "sameas", "lower", "upper");

    /** The globals of transformers' chat-template environment; {@code now} supplies {@code strftime_now}. */
    static Map<String, Object> globals(Supplier<LocalDateTime> now) {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("raise_exception", (Callable) (args, kwargs) -> {
            throw new TemplateException(args.isEmpty() ? "" : str(args.get(0)), true);
        });
        g.put("strftime_now", (Callable) (args, kwargs) -> strftime(str(arg(args, 0, "strftime_now")), now.get()));
        g.put("namespace", (Callable) (args, kwargs) -> {
            Namespace ns = new Namespace();
            for (Object a : args) {
                if (a instanceof Map<?, ?> m) {
                    m.forEach((k, v) -> ns.attributes.put(str(k), v));
                }
            }
            ns.attributes.putAll(kwargs);
            return ns;
        });
        g.put("range", (Callable) (args, kwargs) -> {
            long start = 0;
            long stop;
            long step = 1;
            if (args.size() == 1) {
                stop = PyValues.asLong(args.get(0));
            } else {
                start = PyValues.asLong(arg(args, 0, "range"));
                stop = PyValues.asLong(arg(args, 1, "range"));
                if (args.size() > 2) {
                    step = PyValues.asLong(args.get(2));
                }
            }
            if (step == 0) {
                throw new TemplateException("range() arg 3 must not be zero");
            }
            List<Object> out = new ArrayList<>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
                out.add(i);
            }
            return out;
        });
        g.put("dict", (Callable) (args, kwargs) -> new LinkedHashMap<String, Object>(kwargs));
        return g;
    }

    private static Object arg(List<Object> args, int i, String fn) {
        if (args.size() <= i) {
            throw new TemplateException(fn + "() is missing argument " + (i + 1));
        }
        return args.get(i);
    }

    private static Object arg(List<Object> args, Map<String, Object> kwargs, int i, String name, Object dflt) {
        if (args.size() > i) {
            return args.get(i);
        }
        return kwargs.containsKey(name) ? kwargs.get(name) : dflt;
    }

    /** Python's {@code time.strftime} for the directives chat templates use. */
    static String strftime(String fmt, LocalDateTime t) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 >= fmt.length()) {
                b.append(c);
                continue;
            }
            char d = fmt.charAt(++i);
            switch (d) {
                case 'Y' -> b.append(t.getYear());
                case 'y' -> b.append(String.format("%02d", t.getYear() % 100));
                case 'm' -> b.append(String.format("%02d", t.getMonthValue()));
                case 'd' -> b.append(String.format("%02d", t.getDayOfMonth()));
                case 'H' -> b.append(String.format("%02d", t.getHour()));
                case 'I' -> b.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                case 'M' -> b.append(String.format("%02d", t.getMinute()));
                case 'S' -> b.append(String.format("%02d", t.getSecond()));
                case 'p' -> b.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> b.append(String.format("%03d", t.getDayOfYear()));
                case 'B' -> b.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.US));
                case 'b' -> b.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US));
                case 'A' -> b.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US));
                case 'a' -> b.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US));
                case '%' -> b.append('%');
                default -> throw new TemplateException("strftime_now: the directive %" + d + " is not supported");
            }
        }
        return b.toString();
    }

    static boolean test(String name, Object v, List<Object> args) {
        return switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == null;
            case "string" -> v instanceof String;
            case "number" -> v instanceof Long || v instanceof Double;
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "mapping" -> v instanceof Map;
            case "iterable" -> v instanceof List || v instanceof Map || v instanceof String;
            case "sequence" -> v instanceof List || v instanceof Map || v instanceof String;
            case "callable" -> v instanceof Callable;
            case "even" -> PyValues.asLong(v) % 2 == 0;
            case "odd" -> PyValues.asLong(v) % 2 != 0;
            case "divisibleby" -> PyValues.asLong(v) % PyValues.asLong(arg(args, 0, name)) == 0;
            case "eq", "equalto", "sameas" -> PyValues.equal(v, arg(args, 0, name));
            case "ne" -> !PyValues.equal(v, arg(args, 0, name));
            case "lt" -> PyValues.compare(v, arg(args, 0, name)) < 0;
            case "gt" -> PyValues.compare(v, arg(args, 0, name)) > 0;
            case "le" -> PyValues.compare(v, arg(args, 0, name)) <= 0;
            case "ge" -> PyValues.compare(v, arg(args, 0, name)) >= 0;
            case "in" -> PyValues.contains(arg(args, 0, name), v);
            case "lower" -> v instanceof String s && s.equals(s.toLowerCase(Locale.ROOT));
            case "upper" -> v instanceof String s && s.equals(s.toUpperCase(Locale.ROOT));
            default -> throw new TemplateException("the test '" + name + "' is not supported");
        };
    }

    /** Applies filter {@code name}; {@code env} evaluates attribute lookups and nested tests/filters. */
    static Object filter(String name, Object v, List<Object> args, Map<String, Object> kw, Interpreter env) {
        switch (name) {
            case "trim": {
                Object chars = arg(args, kw, 0, "chars", null);
                return strip(str(v), chars == null ? null : str(chars), true, true);
            }
            case "length":
            case "count":
                return PyValues.length(v);
            case "tojson": {
                Object indent = arg(args, kw, 0, "indent", null);
                Object seps = kw.get("separators");
                String item = null;
                String key = null;
                if (seps instanceof List<?> l && l.size() == 2) {
                    item = str(l.get(0));
                    key = str(l.get(1));
                }
                return PyValues.json(v, indent == null ? null : (int) PyValues.asLong(indent), item, key,
                        truthy(kw.getOrDefault("sort_keys", false)), truthy(kw.getOrDefault("ensure_ascii", false)));
            }
            case "upper":
                return str(v).toUpperCase(Locale.ROOT);
            case "lower":
                return str(v).toLowerCase(Locale.ROOT);
            case "title":
                return title(str(v));
            case "capitalize":
                return capitalize(str(v));
            case "replace": {
                String s = str(v);
                String old = str(arg(args, 0, "replace"));
                String neu = str(arg(args, 1, "replace"));
                Object count = arg(args, kw, 2, "count", null);
                return replace(s, old, neu, count == null ? -1 : PyValues.asLong(count));
            }
            case "join": {
                String sep = str(arg(args, kw, 0, "d", ""));
                Object attribute = arg(args, kw, 1, "attribute", null);
                StringBuilder b = new StringBuilder();
                boolean first = true;
                for (Object o : PyValues.iterate(v)) {
                    b.append(first ? "" : sep).append(str(attribute == null ? o : env.attribute(o, str(attribute))));
                    first = false;
                }
                return b.toString();
            }
            case "default":
            case "d": {
                Object dflt = arg(args, kw, 0, "default_value", "");
                boolean bool = truthy(arg(args, kw, 1, "boolean", false));
                return v instanceof Undefined || (bool && !truthy(v)) ? dflt : v;
            }
            case "first": {
                List<Object> l = PyValues.iterate(v);
                return l.isEmpty() ? new Undefined("No first item, sequence was empty.") : l.get(0);
            }
            case "last": {
                List<Object> l = PyValues.iterate(v);
                return l.isEmpty() ? new Undefined("No last item, sequence was empty.") : l.get(l.size() - 1);
            }
            case "list":
                return PyValues.iterate(v);
            case "reverse": {
                if (v instanceof String s) {
                    return new StringBuilder(s).reverse().toString();
                }
                List<Object> l = PyValues.iterate(v);
                Collections.reverse(l);
                return l;
            }
            case "items": {
                if (v instanceof Undefined) {
                    return List.of();
                }
                if (!(v instanceof Map<?, ?> m)) {
                    throw new TemplateException("items: expected a dict, got " + typeName(v));
                }
                List<Object> out = new ArrayList<>();
                m.forEach((k, x) -> out.add(java.util.Arrays.asList(k, x)));
                return out;
            }
            case "string":
            case "safe":
                return str(v);
            case "int": {
                if (v instanceof Double d) {
                    return (long) d.doubleValue();
                }
                if (v instanceof Long || v instanceof Boolean) {
                    return PyValues.asLong(v);
                }
                try {
                    return Long.parseLong(str(v).trim());
                } catch (NumberFormatException e) {
                    return arg(args, kw, 0, "default", 0L);
                }
            }
            case "float": {
                if (PyValues.isNumber(v)) {
                    return PyValues.asDouble(v);
                }
                try {
                    return Double.parseDouble(str(v).trim());
                } catch (NumberFormatException e) {
                    return arg(args, kw, 0, "default", 0.0);
                }
            }
            case "abs":
                return v instanceof Long l ? (Object) Math.abs(l) : (Object) Math.abs(PyValues.asDouble(v));
            case "round": {
                long precision = PyValues.asLong(arg(args, kw, 0, "precision", 0L));
                String method = str(arg(args, kw, 1, "method", "common"));
                double scale = Math.pow(10, precision);
                double x = PyValues.asDouble(v) * scale;
                double r = switch (method) {
                    case "ceil" -> Math.ceil(x);
                    case "floor" -> Math.floor(x);
                    default -> Math.signum(x) * Math.floor(Math.abs(x) + 0.5);
                };
                return r / scale;
            }
            case "selectattr":
            case "rejectattr": {
                String attr = str(arg(args, 0, name));
                String test = args.size() > 1 ? str(args.get(1)) : null;
                List<Object> rest = args.size() > 2 ? args.subList(2, args.size()) : List.of();
                List<Object> out = new ArrayList<>();
                for (Object o : PyValues.iterate(v)) {
                    Object a = env.attribute(o, attr);
                    boolean ok = test == null ? truthy(a) : test(checkTest(test), a, rest);
                    if (ok == name.equals("selectattr")) {
                        out.add(o);
                    }
                }
                return out;
            }
            case "select":
            case "reject": {
                String test = args.isEmpty() ? null : str(args.get(0));
                List<Object> rest = args.size() > 1 ? args.subList(1, args.size()) : List.of();
                List<Object> out = new ArrayList<>();
                for (Object o : PyValues.iterate(v)) {
                    boolean ok = test == null ? truthy(o) : test(checkTest(test), o, rest);
                    if (ok == name.equals("select")) {
                        out.add(o);
                    }
                }
                return out;
            }
            case "map": {
                List<Object> out = new ArrayList<>();
                if (kw.containsKey("attribute")) {
                    String attr = str(kw.get("attribute"));
                    for (Object o : PyValues.iterate(v)) {
                        Object a = env.attribute(o, attr);
                        out.add(a instanceof Undefined && kw.containsKey("default") ? kw.get("default") : a);
                    }
                    return out;
                }
                String f = str(arg(args, 0, "map"));
                if (!FILTERS.contains(f)) {
                    throw new TemplateException("the filter '" + f + "' is not supported");
                }
                List<Object> rest = args.subList(1, args.size());
                for (Object o : PyValues.iterate(v)) {
                    out.add(filter(f, o, rest, Map.of(), env));
                }
                return out;
            }
            case "unique": {
                List<Object> out = new ArrayList<>();
                for (Object o : PyValues.iterate(v)) {
                    if (!PyValues.contains(out, o)) {
                        out.add(o);
                    }
                }
                return out;
            }
            case "indent": {
                Object w = arg(args, kw, 0, "width", 4L);
                String pad = w instanceof String s ? s : " ".repeat((int) PyValues.asLong(w));
                boolean first = truthy(arg(args, kw, 1, "first", false));
                boolean blank = truthy(arg(args, kw, 2, "blank", false));
                String s = str(v);
                String[] lines = s.split("\n", -1);
                StringBuilder b = new StringBuilder();
                for (int i = 0; i < lines.length; i++) {
                    if (i > 0) {
                        b.append('\n');
                    }
                    boolean indentThis = (i > 0 || first) && (blank || !lines[i].isBlank());
                    b.append(indentThis ? pad : "").append(lines[i]);
                }
                return b.toString();
            }
            case "sort": {
                List<Object> l = PyValues.iterate(v);
                boolean reverse = truthy(arg(args, kw, 0, "reverse", false));
                Object attribute = kw.get("attribute");
                l.sort((a, b) -> attribute == null ? PyValues.compare(a, b)
                        : PyValues.compare(env.attribute(a, str(attribute)), env.attribute(b, str(attribute))));
                if (reverse) {
                    Collections.reverse(l);
                }
                return l;
            }
            case "dictsort": {
                if (!(v instanceof Map<?, ?> m)) {
                    throw new TemplateException("dictsort: expected a dict, got " + typeName(v));
                }
                List<Object> keys = new ArrayList<>(m.keySet());
                keys.sort(PyValues::compare);
                List<Object> out = new ArrayList<>();
                for (Object k : keys) {
                    out.add(java.util.Arrays.asList(k, m.get(k)));
                }
                return out;
            }
            case "wordcount":
                return (long) splitWhitespace(str(v), -1).size();
            case "min":
            case "max": {
                List<Object> l = PyValues.iterate(v);
                if (l.isEmpty()) {
                    return new Undefined("No aggregated item, sequence was empty.");
                }
                Object best = l.get(0);
                for (Object o : l) {
                    int c = PyValues.compare(o, best);
                    if (name.equals("min") ? c < 0 : c > 0) {
                        best = o;
                    }
                }
                return best;
            }
            case "sum": {
                Object total = arg(args, kw, 1, "start", 0L);
                Object attribute = kw.get("attribute");
                for (Object o : PyValues.iterate(v)) {
                    total = Interpreter.arithmetic("+", total, attribute == null ? o : env.attribute(o, str(attribute)));
                }
                return total;
            }
            case "batch": {
                int size = (int) PyValues.asLong(arg(args, 0, "batch"));
                List<Object> l = PyValues.iterate(v);
                List<Object> out = new ArrayList<>();
                for (int i = 0; i < l.size(); i += size) {
                    out.add(new ArrayList<>(l.subList(i, Math.min(l.size(), i + size))));
                }
                return out;
            }
            case "striptags":
                return String.join(" ", splitWhitespace(str(v).replaceAll("<[^>]*>", ""), -1));
            default:
                throw new TemplateException("the filter '" + name + "' is not supported");
        }
    }

    private static String checkTest(String test) {
        if (!TESTS.contains(test)) {
            throw new TemplateException("the test '" + test + "' is not supported");
        }
        return test;
    }

    /** A bound method of a string, dict or list, or null when the type has no such method. */
    static Callable method(Object self, String name) {
        if (self instanceof String s) {
            return stringMethod(s, name);
        }
        if (self instanceof Map<?, ?> m) {
            return switch (name) {
                case "items" -> (args, kw) -> {
                    List<Object> out = new ArrayList<>();
                    m.forEach((k, v) -> out.add(java.util.Arrays.asList(k, v)));
                    return out;
                };
                case "keys" -> (args, kw) -> new ArrayList<Object>(m.keySet());
                case "values" -> (args, kw) -> new ArrayList<Object>(m.values());
                case "get" -> (args, kw) -> {
                    Object k = arg(args, 0, "get");
                    return m.containsKey(k) ? m.get(k) : args.size() > 1 ? args.get(1) : null;
                };
                default -> null;
            };
        }
        if (self instanceof List<?> l) {
            return switch (name) {
                case "index" -> (args, kw) -> {
                    Object x = arg(args, 0, "index");
                    for (int i = 0; i < l.size(); i++) {
                        if (PyValues.equal(l.get(i), x)) {
                            return (long) i;
                        }
                    }
                    throw new TemplateException(PyValues.repr(x) + " is not in list");
                };
                case "count" -> (args, kw) -> {
                    long n = 0;
                    for (Object o : l) {
                        n += PyValues.equal(o, arg(args, 0, "count")) ? 1 : 0;
                    }
                    return n;
                };
                default -> null;
            };
        }
        return null;
    }

    private static Callable stringMethod(String s, String name) {
        return switch (name) {
            case "startswith", "endswith" -> (args, kw) -> {
                Object p = arg(args, 0, name);
                List<Object> options = p instanceof List<?> l ? new ArrayList<>(l) : List.of(p);
                for (Object o : options) {
                    if (name.equals("startswith") ? s.startsWith(str(o)) : s.endsWith(str(o))) {
                        return true;
                    }
                }
                return false;
            };
            case "strip", "lstrip", "rstrip" -> (args, kw) -> {
                Object chars = args.isEmpty() ? null : args.get(0);
                return strip(s, chars == null ? null : str(chars), !name.equals("rstrip"), !name.equals("lstrip"));
            };
            case "split", "rsplit" -> (args, kw) -> {
                Object sep = arg(args, kw, 0, "sep", null);
                long max = PyValues.asLong(arg(args, kw, 1, "maxsplit", -1L));
                if (sep == null) {
                    List<Object> parts = new ArrayList<>(splitWhitespace(name.equals("rsplit")
                            ? new StringBuilder(s).reverse().toString() : s, max));
                    if (name.equals("rsplit")) {
                        parts.replaceAll(p -> new StringBuilder(str(p)).reverse().toString());
                        Collections.reverse(parts);
                    }
                    return parts;
                }
                return split(s, str(sep), max, name.equals("rsplit"));
            };
            case "upper" -> (args, kw) -> s.toUpperCase(Locale.ROOT);
            case "lower" -> (args, kw) -> s.toLowerCase(Locale.ROOT);
            case "title" -> (args, kw) -> title(s);
            case "capitalize" -> (args, kw) -> capitalize(s);
            case "replace" -> (args, kw) -> replace(s, str(arg(args, 0, name)), str(arg(args, 1, name)),
                    args.size() > 2 ? PyValues.asLong(args.get(2)) : -1);
            case "find" -> (args, kw) -> (long) codePointIndex(s, s.indexOf(str(arg(args, 0, name))));
            case "rfind" -> (args, kw) -> (long) codePointIndex(s, s.lastIndexOf(str(arg(args, 0, name))));
            case "count" -> (args, kw) -> {
                String sub = str(arg(args, 0, name));
                if (sub.isEmpty()) {
                    return (long) s.codePointCount(0, s.length()) + 1;
                }
                long n = 0;
                for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
                    n++;
                }
                return n;
            };
            case "join" -> (args, kw) -> {
                StringBuilder b = new StringBuilder();
                boolean first = true;
                for (Object o : PyValues.iterate(arg(args, 0, name))) {
                    if (!(o instanceof String)) {
                        throw new TemplateException("sequence item: expected str instance, " + typeName(o)
                                + " found");
                    }
                    b.append(first ? "" : s).append(o);
                    first = false;
                }
                return b.toString();
            };
            case "splitlines" -> (args, kw) -> {
                List<Object> out = new ArrayList<>();
                for (String line : s.split("\r\n|\r|\n", -1)) {
                    out.add(line);
                }
                if (!out.isEmpty() && "".equals(out.get(out.size() - 1))) {
                    out.remove(out.size() - 1);
                }
                return out;
            };
            case "isdigit" -> (args, kw) -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isspace" -> (args, kw) -> !s.isEmpty() && s.chars().allMatch(Character::isWhitespace);
            case "isalpha" -> (args, kw) -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            default -> null;
        };
    }

    private static int codePointIndex(String s, int charIndex) {
        return charIndex < 0 ? -1 : s.codePointCount(0, charIndex);
    }

    /** Python's {@code str.strip(chars)}: whitespace when chars is null. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int i = 0;
        int j = s.length();
        if (left) {
            while (i < j && stripped(s.charAt(i), chars)) {
                i++;
            }
        }
        if (right) {
            while (j > i && stripped(s.charAt(j - 1), chars)) {
                j--;
            }
        }
        return s.substring(i, j);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : chars.indexOf(c) >= 0;
    }

    private static List<String> splitWhitespace(String s, long max) {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = s.length();
        while (i < n) {
            while (i < n && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            if (i >= n) {
                break;
            }
            if (max >= 0 && out.size() == max) {
                out.add(strip(s.substring(i), null, false, true));
                return out;
            }
            int j = i;
            while (j < n && !Character.isWhitespace(s.charAt(j))) {
                j++;
            }
            out.add(s.substring(i, j));
            i = j;
        }
        return out;
    }

    private static List<Object> split(String s, String sep, long max, boolean fromRight) {
        if (sep.isEmpty()) {
            throw new TemplateException("empty separator");
        }
        List<Object> out = new ArrayList<>();
        if (!fromRight) {
            int start = 0;
            int idx;
            while ((max < 0 || out.size() < max) && (idx = s.indexOf(sep, start)) >= 0) {
                out.add(s.substring(start, idx));
                start = idx + sep.length();
            }
            out.add(s.substring(start));
            return out;
        }
        int end = s.length();
        int idx;
        while ((max < 0 || out.size() < max) && (idx = s.lastIndexOf(sep, end - sep.length())) >= 0
                && end - sep.length() >= 0) {
            out.add(s.substring(idx + sep.length(), end));
            end = idx;
        }
        out.add(s.substring(0, end));
        Collections.reverse(out);
        return out;
    }

    private static String replace(String s, String old, String neu, long count) {
        if (count < 0) {
            return s.replace(old, neu);
        }
        StringBuilder b = new StringBuilder();
        int start = 0;
        long done = 0;
        int idx;
        while (done < count && !old.isEmpty() && (idx = s.indexOf(old, start)) >= 0) {
            b.append(s, start, idx).append(neu);
            start = idx + old.length();
            done++;
        }
        return b.append(s.substring(start)).toString();
    }

    private static String title(String s) {
        StringBuilder b = new StringBuilder();
        boolean prevCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean cased = Character.isLetter(c);
            b.append(cased ? (prevCased ? Character.toLowerCase(c) : Character.toTitleCase(c)) : c);
            prevCased = cased;
        }
        return b.toString();
    }

    private static String capitalize(String s) {
        return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1).toLowerCase(Locale.ROOT);
    }
}
