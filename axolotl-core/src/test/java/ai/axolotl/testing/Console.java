package ai.axolotl.testing;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** What the logger prints while a test runs (slf4j-simple writes to the current {@code System.err}). */
public final class Console {
    private Console() {}

    /** The text logged while {@code action} ran. */
    public static String capture(Runnable action) {
        PrintStream saved = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            action.run();
        } finally {
            System.setErr(saved);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }
}
