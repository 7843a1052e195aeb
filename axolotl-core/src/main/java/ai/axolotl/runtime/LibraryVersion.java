package ai.axolotl.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * The library's version and the git commit it was built from (recorded by the build; "unknown" for a build made
 * outside a git checkout; "-dirty" when the checkout had uncommitted changes).
 */
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
        if (c.isBlank() || c.startsWith("${")) {
            return "unknown";
        }
        return "true".equals(PROPS.getProperty("dirty")) ? c + "-dirty" : c;
    }
}
