package ai.axolotl.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads Axolotl-style YAML (snake_case keys), applies command-line overrides ({@code --key value}, dashes or
 * underscores, dotted for nested keys), and binds and validates the result into an {@link AxolotlConfig}.
 */
public final class ConfigLoader {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper OUT = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES))
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    /**
     * A validated configuration with the warnings found on the way.
     *
     * @param config the configuration
     * @param warnings non-fatal findings (keys with no effect, deprecations, Axolotl's hints)
     */
    public record Loaded(AxolotlConfig config, List<String> warnings) {}

    private ConfigLoader() {}

    /** Loads a YAML file with overrides (may be empty). Throws {@link ConfigException} listing every problem. */
    public static Loaded load(Path file, Map<String, String> overrides) {
        Map<String, Object> raw = readYaml(file);
        applyOverrides(raw, overrides);
        return fromMap(raw);
    }

    /** Binds and validates a raw key map. */
    public static Loaded fromMap(Map<String, Object> raw) {
        return ConfigValidator.validate(ConfigBinder.bind(raw));
    }

    /** Parses a YAML file into a key map, reporting malformed YAML with line and column. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> readYaml(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException("<file>", "config file not found: " + file);
        } catch (IOException e) {
            throw new ConfigException("<file>", "cannot read " + file + ": " + e.getMessage());
        }
        try {
            JsonNode node = YAML.readTree(text);
            if (node == null || node.isNull() || node.isMissingNode()) {
                return new LinkedHashMap<>();
            }
            if (!node.isObject()) {
                throw new ConfigException("<file>", file + " must be a YAML mapping of keys to values");
            }
            return YAML.convertValue(node, LinkedHashMap.class);
        } catch (JsonProcessingException e) {
            JsonLocation loc = e.getLocation();
            String where = loc == null ? "" : ":" + loc.getLineNr() + ":" + loc.getColumnNr();
            String msg = e.getOriginalMessage().lines().findFirst().orElse("malformed YAML");
            throw new ConfigException("<file>", "malformed YAML at " + file + where + ": " + msg);
        }
    }

    /**
     * Applies {@code --key value} overrides: the key may use dashes or underscores and dots for nesting; the
     * value is read as a YAML scalar, so {@code true}, {@code 3} and {@code 2e-4} keep their types.
     */
    @SuppressWarnings("unchecked")
    public static void applyOverrides(Map<String, Object> raw, Map<String, String> overrides) {
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            String[] path = e.getKey().replace('-', '_').split("\\.");
            Map<String, Object> target = raw;
            for (int i = 0; i < path.length - 1; i++) {
                Object next = target.get(path[i]);
                if (!(next instanceof Map)) {
                    next = new LinkedHashMap<String, Object>();
                    target.put(path[i], next);
                }
                target = (Map<String, Object>) next;
            }
            target.put(path[path.length - 1], parseScalar(e.getValue()));
        }
    }

    static Object parseScalar(String value) {
        if (value == null) {
            return Boolean.TRUE;
        }
        try {
            Object v = YAML.readValue(value, Object.class);
            if (v instanceof String s && s.matches("[-+]?\\d*\\.?\\d+[eE][-+]?\\d+")) {
                return Double.parseDouble(s);
            }
            return v;
        } catch (IOException ex) {
            return value;
        }
    }

    /** The resolved configuration as YAML (snake_case keys, by section). */
    public static String toYaml(AxolotlConfig config) {
        try {
            return OUT.writeValueAsString(config);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * References the library cannot resolve on this machine: a {@code base_model}, tokenizer or dataset path that
     * is not a local file or directory (a Hugging Face Hub id, say). {@code validate} prints them as warnings;
     * {@code train} fails on them.
     */
    public static List<String> unresolvedReferences(AxolotlConfig c) {
        List<String> out = new ArrayList<>();
        String base = c.model().baseModel();
        if (base != null && !Files.exists(Path.of(base))) {
            out.add("base_model: '" + base + "' " + describeMissing(base));
        }
        String tok = c.model().tokenizerConfig();
        if (tok != null && !Files.exists(Path.of(tok))) {
            out.add("tokenizer_config: '" + tok + "' " + describeMissing(tok));
        }
        for (int i = 0; i < c.datasets().size(); i++) {
            String p = c.datasets().get(i).path();
            if (p != null && !Files.exists(Path.of(p))) {
                out.add("datasets[" + i + "].path: '" + p + "' " + describeMissing(p));
            }
        }
        if (c.parallel().deepspeed() != null && !Files.exists(Path.of(c.parallel().deepspeed()))) {
            out.add("deepspeed: '" + c.parallel().deepspeed() + "' is not a local file");
        }
        return out;
    }

    private static String describeMissing(String ref) {
        if (ref.matches("[A-Za-z0-9][\\w.-]*/[\\w.-]+") && !ref.startsWith(".")) {
            return "looks like a Hugging Face Hub id; axolotl-java reads local directories and files only";
        }
        return "is not a local file or directory";
    }
}
