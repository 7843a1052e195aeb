package ai.axolotl.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;

import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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

    /** Aliases a document may expand into collections at most: a billion-laughs file fails fast. */
    static final int MAX_COLLECTION_ALIASES = 50;

    /**
     * Parses a YAML file into a key map as PyYAML (Axolotl's reader) does: YAML 1.1 scalars, anchors and aliases
     * (scalars, mappings, sequences) and merge keys ({@code <<}) resolved. Beyond PyYAML, a key repeated within a
     * mapping is an error naming it and both lines (PyYAML keeps the last silently), and a document expanding more
     * than {@value #MAX_COLLECTION_ALIASES} aliases into collections is refused before it is built. Malformed YAML
     * is reported with line and column.
     */
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
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(true); // found below, with both lines
        options.setMaxAliasesForCollections(MAX_COLLECTION_ALIASES);
        Yaml yaml = new Yaml(new SafeConstructor(options));
        try {
            Node root = yaml.compose(new StringReader(text));
            if (root == null) {
                return new LinkedHashMap<>();
            }
            requireUniqueKeys(root, file, Collections.newSetFromMap(new IdentityHashMap<>()));
            Object value = yaml.load(text);
            if (value == null) {
                return new LinkedHashMap<>();
            }
            if (!(value instanceof Map)) {
                throw new ConfigException("<file>", file + " must be a YAML mapping of keys to values");
            }
            return (Map<String, Object>) value;
        } catch (MarkedYAMLException e) {
            Mark m = e.getProblemMark();
            String where = m == null ? "" : ":" + (m.getLine() + 1) + ":" + (m.getColumn() + 1);
            String problem = e.getProblem() != null ? e.getProblem() : "malformed YAML";
            throw new ConfigException("<file>", "malformed YAML at " + file + where + ": " + problem);
        } catch (YAMLException e) {
            String msg = e.getMessage() == null ? "malformed YAML" : e.getMessage().lines().findFirst().orElse("");
            throw new ConfigException("<file>", "YAML at " + file + " refused: " + msg);
        }
    }

    /** A key given twice in one mapping is an error naming it and both lines (merge keys may repeat). */
    private static void requireUniqueKeys(Node node, Path file, Set<Node> seen) {
        if (!seen.add(node)) {
            return; // an alias to a node already walked
        }
        if (node instanceof MappingNode map) {
            Map<String, Integer> lines = new LinkedHashMap<>();
            for (NodeTuple t : map.getValue()) {
                if (t.getKeyNode() instanceof ScalarNode k && !k.getValue().equals("<<")) {
                    int line = k.getStartMark().getLine() + 1;
                    Integer first = lines.putIfAbsent(k.getValue(), line);
                    if (first != null) {
                        throw new ConfigException(k.getValue(), "given twice in " + file + ": line " + first
                                + " and line " + line + " (PyYAML would keep the last silently; keep one)");
                    }
                }
                requireUniqueKeys(t.getValueNode(), file, seen);
            }
        } else if (node instanceof SequenceNode seq) {
            for (Node n : seq.getValue()) {
                requireUniqueKeys(n, file, seen);
            }
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
        if (base != null && !Files.exists(Path.of(base)) && !isHubId(base)) {
            out.add("base_model: '" + base + "' is not a local file or directory");
        }
        String tok = c.model().tokenizerConfig();
        if (tok != null && !Files.exists(Path.of(tok)) && !isHubId(tok)) {
            out.add("tokenizer_config: '" + tok + "' is not a local file or directory");
        }
        for (int i = 0; i < c.datasets().size(); i++) {
            String p = c.datasets().get(i).path();
            if (p != null && !Files.exists(Path.of(p)) && !isHubId(p)) {
                out.add("datasets[" + i + "].path: '" + p + "' is not a local file or directory");
            }
            if (p != null && Files.exists(Path.of(p)) && c.datasets().get(i).name() != null) {
                out.add("datasets[" + i + "].name: a configuration name applies to Hub datasets; '" + p
                        + "' is local");
            }
        }
        String lora = c.model().adapter().loraModelDir();
        if (lora != null && !Files.exists(Path.of(lora)) && !isHubId(lora)) {
            out.add("lora_model_dir: '" + lora + "' is not a local directory (Target directory for LoRA adapter "
                    + "weights does not exist)");
        }
        if (c.parallel().deepspeed() != null && !Files.exists(Path.of(c.parallel().deepspeed()))) {
            out.add("deepspeed: '" + c.parallel().deepspeed() + "' is not a local file");
        }
        return out;
    }

    /**
     * True when {@code ref} is not a local file or directory and has the shape of a Hugging Face Hub id
     * ({@code org/name}, not ending in a data or config file extension such as {@code .jsonl}, which names a
     * missing local file); such references are fetched through the Hub cache when a run starts.
     */
    public static boolean isHubId(String ref) {
        return ref != null && ref.matches("[A-Za-z0-9][\\w.-]*/[\\w.-]+") && !ref.startsWith(".")
                && !ref.matches("(?i).*\\.(jsonl?|csv|parquet|ya?ml|txt|safetensors|jinja)$")
                && !Files.exists(Path.of(ref));
    }

    /** The Hub ids a config names (fetched, or read from the Hugging Face cache, when a run starts). */
    public static List<String> hubReferences(AxolotlConfig c) {
        List<String> out = new ArrayList<>();
        if (isHubId(c.model().baseModel())) {
            out.add("base_model: " + c.model().baseModel() + (c.model().revision() == null ? ""
                    : "@" + c.model().revision()));
        }
        if (isHubId(c.model().tokenizerConfig())) {
            out.add("tokenizer_config: " + c.model().tokenizerConfig());
        }
        if (isHubId(c.model().adapter().loraModelDir())) {
            out.add("lora_model_dir: " + c.model().adapter().loraModelDir());
        }
        for (int i = 0; i < c.datasets().size(); i++) {
            DatasetConfig d = c.datasets().get(i);
            if (isHubId(d.path())) {
                out.add("datasets[" + i + "].path: " + d.path() + (d.revision() == null ? "" : "@" + d.revision()));
            }
        }
        return out;
    }
}
