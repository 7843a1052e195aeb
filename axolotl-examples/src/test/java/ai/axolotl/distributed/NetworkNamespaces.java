package ai.axolotl.distributed;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Two network namespaces joined by a veth pair, each with its own address: two "nodes" on one machine. Needs
 * root and iproute2; {@link #create()} returns null when they are missing and {@link #whyUnavailable()} says
 * why.
 */
final class NetworkNamespaces implements AutoCloseable {
    static final String ADDRESS_A = "10.231.7.1";
    static final String ADDRESS_B = "10.231.7.2";
    private final String a;
    private final String b;
    private static String why = "";

    private NetworkNamespaces(String a, String b) {
        this.a = a;
        this.b = b;
    }

    static String whyUnavailable() {
        return "multi-node test skipped: " + why;
    }

    static NetworkNamespaces create() {
        String suffix = Long.toString(ProcessHandle.current().pid() % 100000);
        String a = "axa" + suffix;
        String b = "axb" + suffix;
        try {
            if (run("ip", "-V") != 0) {
                why = "iproute2 ('ip') is not installed";
                return null;
            }
            if (run("ip", "netns", "add", a) != 0) {
                why = "cannot create network namespaces (needs root / CAP_SYS_ADMIN)";
                return null;
            }
            NetworkNamespaces ns = new NetworkNamespaces(a, b);
            boolean ok = run("ip", "netns", "add", b) == 0
                    && run("ip", "link", "add", "va" + suffix, "type", "veth", "peer", "name", "vb" + suffix) == 0
                    && run("ip", "link", "set", "va" + suffix, "netns", a) == 0
                    && run("ip", "link", "set", "vb" + suffix, "netns", b) == 0
                    && run("ip", "-n", a, "addr", "add", ADDRESS_A + "/24", "dev", "va" + suffix) == 0
                    && run("ip", "-n", b, "addr", "add", ADDRESS_B + "/24", "dev", "vb" + suffix) == 0
                    && run("ip", "-n", a, "link", "set", "va" + suffix, "up") == 0
                    && run("ip", "-n", b, "link", "set", "vb" + suffix, "up") == 0
                    && run("ip", "-n", a, "link", "set", "lo", "up") == 0
                    && run("ip", "-n", b, "link", "set", "lo", "up") == 0;
            if (!ok) {
                ns.close();
                why = "could not set up the veth pair between the namespaces";
                return null;
            }
            return ns;
        } catch (IOException | InterruptedException e) {
            why = "iproute2 unavailable: " + e.getMessage();
            return null;
        }
    }

    /** The command prefix that runs a program in node {@code n}'s namespace. */
    List<String> exec(int n) {
        return List.of("ip", "netns", "exec", n == 0 ? a : b);
    }

    private static int run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }

    @Override
    public void close() {
        try {
            run("ip", "netns", "del", a);
            run("ip", "netns", "del", b);
        } catch (IOException | InterruptedException e) {
            // best effort
        }
    }
}
