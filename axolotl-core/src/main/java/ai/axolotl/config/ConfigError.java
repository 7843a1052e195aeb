package ai.axolotl.config;

/**
 * One problem found in a configuration.
 *
 * @param key the key path as written in YAML ({@code datasets[0].type}), or {@code <file>} for the file itself
 * @param message what is wrong and what is expected, one line
 */
public record ConfigError(String key, String message) {
    @Override
    public String toString() {
        return key + ": " + message;
    }
}
