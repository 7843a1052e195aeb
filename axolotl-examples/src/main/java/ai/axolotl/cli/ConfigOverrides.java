package ai.axolotl.cli;

import ai.axolotl.config.ConfigException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses Axolotl-style overrides from the words after the config file: {@code --key value}, {@code --key=value},
 * or a bare {@code --flag} (true). Dashes and underscores are the same; dots address nested keys.
 */
final class ConfigOverrides {
    private ConfigOverrides() {}

    static Map<String, String> parse(List<String> words) {
        Map<String, String> out = new LinkedHashMap<>();
        if (words == null) {
            return out;
        }
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            if (!w.startsWith("--") || w.length() == 2) {
                throw new ConfigException("<command line>", "unexpected argument '" + w
                        + "'; overrides look like --key value");
            }
            String key = w.substring(2);
            String value;
            int eq = key.indexOf('=');
            if (eq >= 0) {
                value = key.substring(eq + 1);
                key = key.substring(0, eq);
            } else if (i + 1 < words.size() && !words.get(i + 1).startsWith("--")) {
                value = words.get(++i);
            } else {
                value = "true";
            }
            out.put(key.replace('-', '_'), value);
        }
        return out;
    }
}
