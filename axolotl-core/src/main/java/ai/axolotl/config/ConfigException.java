package ai.axolotl.config;

import java.util.List;
import java.util.stream.Collectors;

/** Thrown when a configuration has problems; carries every problem found, not only the first. */
public final class ConfigException extends RuntimeException {
    private final List<ConfigError> errors;

    /** @param errors every problem found (at least one) */
    public ConfigException(List<ConfigError> errors) {
        super(errors.stream().map(ConfigError::toString).collect(Collectors.joining("; ")));
        this.errors = List.copyOf(errors);
    }

    /** A single problem. */
    public ConfigException(String key, String message) {
        this(List.of(new ConfigError(key, message)));
    }

    /** Every problem found. */
    public List<ConfigError> errors() {
        return errors;
    }
}
