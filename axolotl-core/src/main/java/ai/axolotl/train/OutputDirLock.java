package ai.axolotl.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Optional;

/**
 * One run owns an {@code output_dir}: {@code <output_dir>/.axolotl-run.lock}, created atomically, names the holder
 * (host, process id, process start time, when the run started). A second run on the directory is refused with one
 * line naming the holder. A lock whose process is gone (same host; the process id no longer runs, or runs a
 * process started at another time) is stale and taken over with a warning; one held on another host can only be
 * judged by the user, who deletes it. Released when the run ends.
 */
final class OutputDirLock implements AutoCloseable {
    static final String FILE = ".axolotl-run.lock";
    private static final Logger LOG = LoggerFactory.getLogger(OutputDirLock.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final String token;

    private OutputDirLock(Path file, String token) {
        this.file = file;
        this.token = token;
    }

    /** Takes the lock of {@code outputDir} (which exists), or throws naming the run that holds it. */
    static OutputDirLock acquire(Path outputDir) {
        Path file = outputDir.resolve(FILE);
        ObjectNode me = describe(ProcessHandle.current());
        String token = me.toString();
        for (int attempt = 0; attempt < 3; attempt++) {
            try {
                create(file, token);
                return new OutputDirLock(file, token);
            } catch (FileAlreadyExistsException e) {
                JsonNode holder = read(file);
                if (holder == null) {
                    continue; // released between our attempt and the read
                }
                if (!stale(holder)) {
                    throw new TrainingException("output_dir: " + outputDir + " is in use by another run (process "
                            + holder.path("pid").asLong() + " on " + holder.path("host").asText() + ", started "
                            + holder.path("started").asText() + "); wait for it, choose another output_dir, or "
                            + "delete " + file + " if that run is gone");
                }
                LOG.warn("output_dir: taking over the stale lock of process {} on {} (started {}): that process is "
                        + "gone", holder.path("pid").asLong(), holder.path("host").asText(),
                        holder.path("started").asText());
                try {
                    Files.deleteIfExists(file);
                } catch (IOException ex) {
                    throw new TrainingException("output_dir: cannot remove the stale lock " + file + ": "
                            + ex.getMessage(), ex);
                }
            } catch (IOException e) {
                throw new TrainingException("output_dir: cannot create the run lock " + file + ": " + e.getMessage(),
                        e);
            }
        }
        throw new TrainingException("output_dir: could not take the run lock " + file + " (it keeps changing: "
                + "another run is starting there)");
    }

    /**
     * Creates {@code file} holding {@code token}, failing if it exists, so that a reader never sees it empty: the
     * content is written to a temporary file that is then hard-linked in place (where the file system has no
     * hard links, created with CREATE_NEW and written).
     */
    private static void create(Path file, String token) throws IOException {
        Path tmp = Files.createTempFile(file.getParent(), FILE, ".tmp");
        try {
            Files.writeString(tmp, token);
            try {
                Files.createLink(file, tmp);
            } catch (UnsupportedOperationException e) {
                Files.writeString(file, token, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    static ObjectNode describe(ProcessHandle p) {
        ObjectNode n = JSON.createObjectNode();
        n.put("host", hostName());
        n.put("pid", p.pid());
        n.put("process_start", p.info().startInstant().map(Instant::toString).orElse(""));
        n.put("started", Instant.now().toString());
        return n;
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown-host";
        }
    }

    private static JsonNode read(Path file) {
        try {
            return JSON.readTree(Files.readString(file));
        } catch (java.nio.file.NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            // unreadable (a run died while writing it): its holder cannot be named, so it is stale
            return JSON.createObjectNode().put("host", hostName()).put("pid", -1);
        }
    }

    /** Whether the lock's process is gone (only decidable on this host). */
    static boolean stale(JsonNode holder) {
        if (!hostName().equals(holder.path("host").asText())) {
            return false;
        }
        Optional<ProcessHandle> p = ProcessHandle.of(holder.path("pid").asLong(-1));
        if (p.isEmpty() || !p.get().isAlive()) {
            return true;
        }
        String recorded = holder.path("process_start").asText("");
        String actual = p.get().info().startInstant().map(Instant::toString).orElse("");
        return !recorded.isEmpty() && !actual.isEmpty() && !recorded.equals(actual); // the id was reused
    }

    @Override
    public void close() {
        try {
            if (Files.isRegularFile(file) && token.equals(Files.readString(file))) {
                Files.delete(file);
            }
        } catch (IOException e) {
            LOG.warn("output_dir: could not remove the run lock {}: {}", file, e.getMessage());
        }
    }
}
