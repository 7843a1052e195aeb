package ai.axolotl.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The library's version and (when the build was given {@code -Daxolotl.git.commit=...}) git commit. */
public final class LibraryVersion {
    private static final Properties PROPS = new Properties();

    static {
        try (InputStream in = LibraryVersion.class.getResourceAsStream("/ai/axolotl/version.properties")) {
            if (in != null) {
                PROPS.load(in);
            }
        } catch (IOException e) {
            // leave empty
        }
    }

    private LibraryVersion() {}

    /** Maven version, e.g. 0.1.0-SNAPSHOT. */
    public static String version() {
        return PROPS.getProperty("version", "unknown");
    }

    /** Git commit, or "unknown". */
    public static String commit() {
        String c = PROPS.getProperty("commit", "unknown");
        return c.startsWith("${") ? "unknown" : c;
    }
}
