package ai.axolotl.data.jinja;

import ai.axolotl.data.jinja.Node.Stmt;
import com.fasterxml.jackson.databind.JsonNode;

import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A compiled Jinja template, rendered as transformers renders chat templates. Thread-safe: each render has its
 * own state.
 *
 * <pre>{@code
 * JinjaTemplate t = JinjaTemplate.compile("qwen3", source);
 * String text = t.render(Map.of("messages", messages, "add_generation_prompt", false, "eos_token", "<|im_end|>"));
 * }</pre>
 */
public final class JinjaTemplate {
    private final String name;
    private final List<Stmt> body;
    private final Supplier<LocalDateTime> clock;

    private JinjaTemplate(String name, List<Stmt> body, Supplier<LocalDateTime> clock) {
        this.name = name;
        this.body = body;
        this.clock = clock;
    }

    /**
     * Compiles {@code source}.
     *
     * @param name how errors name the template
     * @throws TemplateException naming the template, line and construct when it uses something not implemented
     */
    public static JinjaTemplate compile(String name, String source) {
        return new JinjaTemplate(name, new Parser(name, new Lexer(name, source).segments()).parse(),
                LocalDateTime::now);
    }

    /** This template with {@code strftime_now} reading {@code clock} (tests pin the date). */
    public JinjaTemplate withClock(Supplier<LocalDateTime> clock) {
        return new JinjaTemplate(name, body, clock);
    }

    /** The name errors use. */
    public String name() {
        return name;
    }

    /**
     * Renders with {@code variables}: Java strings, numbers ({@code Integer}/{@code Long} are ints,
     * {@code Float}/{@code Double} floats), booleans, null, lists, maps, or Jackson {@link JsonNode}s.
     *
     * @throws TemplateException when rendering fails or the template calls {@code raise_exception}
     *     ({@link TemplateException#raisedByTemplate()})
     */
    public String render(Map<String, ?> variables) {
        Map<String, Object> vars = new LinkedHashMap<>();
        variables.forEach((k, v) -> vars.put(k, value(v)));
        Interpreter interpreter = new Interpreter(Builtins.globals(clock), vars);
        StringBuilder out = new StringBuilder();
        try {
            interpreter.run(body, out);
        } catch (TemplateException e) {
            if (e.raisedByTemplate() || e.getMessage().startsWith(name + ":")) {
                throw e;
            }
            throw new TemplateException(name + ":" + interpreter.line() + ": " + e.getMessage());
        } catch (StackOverflowError e) {
            throw new TemplateException(name + ": recursion too deep");
        }
        return out.toString();
    }

    /** Converts a Java or JSON value to the interpreter's representation (ints and floats kept apart). */
    static Object value(Object v) {
        if (v == null || v instanceof String || v instanceof Boolean || v instanceof Long || v instanceof Double) {
            return v;
        }
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof Float f) {
            return (double) f;
        }
        if (v instanceof JsonNode n) {
            return json(n);
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>(l.size());
            for (Object o : l) {
                out.add(value(o));
            }
            return out;
        }
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put(value(k), value(x)));
            return out;
        }
        throw new IllegalArgumentException("a template variable cannot be a " + v.getClass().getName());
    }

    private static Object json(JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            return null;
        }
        if (n.isTextual()) {
            return n.asText();
        }
        if (n.isBoolean()) {
            return n.asBoolean();
        }
        if (n.isIntegralNumber()) {
            return n.asLong();
        }
        if (n.isNumber()) {
            return n.asDouble();
        }
        if (n.isArray()) {
            List<Object> out = new ArrayList<>(n.size());
            n.forEach(x -> out.add(json(x)));
            return out;
        }
        Map<Object, Object> out = new LinkedHashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = n.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), json(e.getValue()));
        }
        return out;
    }
}
