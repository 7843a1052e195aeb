package ai.axolotl.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * What produced a checkpoint or an exported model: this library's version and git commit, the libtorch bindings'
 * version, the Java runtime and the operating system. Recorded in {@code trainer_state.json} and in the export's
 * {@code training_provenance.json}.
 */
public final class Provenance {
    private Provenance() {}

    /** The facts, in a fixed order, by JSON field name. */
    public static Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("library_version", LibraryVersion.version());
        m.put("git_commit", LibraryVersion.commit());
        m.put("libtorch_bindings", bindingsVersion());
        m.put("java_version", System.getProperty("java.version"));
        m.put("java_vendor", System.getProperty("java.vendor"));
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        m.put("arch", System.getProperty("os.arch"));
        return m;
    }

    /** The version of {@code org.bytedeco:pytorch} on the classpath (libtorch version - JavaCPP version). */
    public static String bindingsVersion() {
        try (InputStream in = Provenance.class.getResourceAsStream(
                "/META-INF/maven/org.bytedeco/pytorch/pom.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }
}
