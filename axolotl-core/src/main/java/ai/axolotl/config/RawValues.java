package ai.axolotl.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Typed reads of a raw key/value map (as parsed from YAML), recording a {@link ConfigError} naming the key path
 * for every value of the wrong type instead of throwing, so all problems of a file are reported together.
 */
final class RawValues {
    private final Map<String, Object> raw;
    private final String prefix;
    private final List<ConfigError> errors;

    RawValues(Map<String, Object> raw, String prefix, List<ConfigError> errors) {
        this.raw = raw;
        this.prefix = prefix;
        this.errors = errors;
    }

    String path(String key) {
        return prefix.isEmpty() ? key : prefix + "." + key;
    }

    boolean isSet(String key) {
        return raw.get(key) != null;
    }

    Object get(String key) {
        return raw.get(key);
    }

    void error(String key, String message) {
        errors.add(new ConfigError(path(key), message));
    }

    private String show(Object v) {
        return v instanceof String s ? "'" + s + "'" : String.valueOf(v);
    }

    String string(String key, String dflt) {
        Object v = raw.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof String || v instanceof Number || v instanceof Boolean) {
            return String.valueOf(v);
        }
        error(key, "expected a string, got " + show(v));
        return dflt;
    }

    Integer integer(String key, Integer dflt) {
        Object v = raw.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Integer || v instanceof Long) {
            long l = ((Number) v).longValue();
            if (l >= Integer.MIN_VALUE && l <= Integer.MAX_VALUE) {
                return (int) l;
            }
        }
        if (v instanceof Double d && d == Math.rint(d) && !d.isInfinite()) {
            return d.intValue();
        }
        error(key, "expected an integer, got " + show(v));
        return dflt;
    }

    Long longValue(String key, long dflt) {
        Object v = raw.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Integer || v instanceof Long) {
            return ((Number) v).longValue();
        }
        error(key, "expected an integer, got " + show(v));
        return dflt;
    }

    Double number(String key, Double dflt) {
        Object v = raw.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        if (v instanceof String s) {
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                // fall through
            }
        }
        error(key, "expected a number, got " + show(v));
        return dflt;
    }

    boolean bool(String key, boolean dflt) {
        Object v = raw.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        error(key, "expected true or false, got " + show(v));
        return dflt;
    }

    /** A value that may be {@code auto}, {@code true} or {@code false}; returned as that word. */
    String autoBool(String key, String dflt) {
        Object v = raw.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Boolean b) {
            return b.toString();
        }
        if ("auto".equals(v)) {
            return "auto";
        }
        error(key, "expected auto, true or false, got " + show(v));
        return dflt;
    }

    String oneOf(String key, String dflt, List<String> allowed) {
        if (Boolean.FALSE.equals(raw.get(key)) && allowed.contains("no")) {
            return "no"; // YAML 1.1 reads a bare `no` as false
        }
        String s = string(key, null);
        if (s == null) {
            return dflt;
        }
        if (!allowed.contains(s)) {
            error(key, "expected one of " + String.join(", ", allowed) + ", got '" + s + "'");
            return dflt;
        }
        return s;
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> map(String key) {
        Object v = raw.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof Map<?, ?> m) {
            return (Map<String, Object>) m;
        }
        error(key, "expected a mapping of keys to values, got " + show(v));
        return null;
    }

    List<Object> list(String key) {
        Object v = raw.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof List<?> l) {
            return new ArrayList<>(l);
        }
        error(key, "expected a list, got " + show(v));
        return null;
    }

    List<String> stringList(String key) {
        Object v = raw.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof String s) {
            return List.of(s);
        }
        List<String> out = new ArrayList<>();
        if (v instanceof List<?> l) {
            for (Object o : l) {
                if (o instanceof String s) {
                    out.add(s);
                } else {
                    error(key, "expected a list of strings, got " + show(o) + " in it");
                }
            }
            return out;
        }
        error(key, "expected a string or a list of strings, got " + show(v));
        return null;
    }
}
