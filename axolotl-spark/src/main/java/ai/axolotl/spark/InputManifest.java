package ai.axolotl.spark;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The JSON-lines files a run's DataFrame was written to, one per non-empty partition in partition order, with
 * the size and SHA-256 the write job saw. Every rank checks its view of the files against it before training, so a
 * rank that reads another filesystem (an {@code output_dir} that is not shared) or a file changed since fails naming
 * the file instead of training on other data.
 *
 * @param dir the directory holding the files
 * @param parts the files, in partition order
 */
record InputManifest(String dir, List<Part> parts) implements Serializable {
    /**
     * One partition's file.
     *
     * @param partition the DataFrame partition it holds
     * @param file file name inside {@link #dir()}
     * @param rows rows written
     * @param bytes file size
     * @param sha256 hex digest of the file
     */
    record Part(int partition, String file, long rows, long bytes, String sha256) implements Serializable {}

    /** The file names, in partition order: the dataset's {@code data_files}. */
    List<String> files() {
        return parts.stream().map(Part::file).toList();
    }

    /** Rows over every file. */
    long rows() {
        return parts.stream().mapToLong(Part::rows).sum();
    }

    /**
     * Checks that every file is as the write job left it.
     *
     * @param rank the rank checking, for the message
     * @throws SparkTrainingException naming the first file that is missing or differs
     */
    void verify(int rank) {
        for (Part p : parts) {
            Path f = Path.of(dir, p.file());
            String why = null;
            try {
                if (!Files.isRegularFile(f)) {
                    why = "is missing";
                } else if (Files.size(f) != p.bytes()) {
                    why = "has " + Files.size(f) + " bytes, the write job wrote " + p.bytes();
                } else if (!sha256(f).equals(p.sha256())) {
                    why = "differs from what the write job wrote (sha256)";
                }
            } catch (IOException e) {
                why = "cannot be read: " + e.getMessage();
            }
            if (why != null) {
                throw new SparkTrainingException("rank " + rank + ": input file " + f + " " + why + "; output_dir "
                        + "must be one filesystem that the driver and every executor see (NFS, a shared volume)");
            }
        }
    }

    static String sha256(Path file) throws IOException {
        MessageDigest md = digest();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM has no SHA-256", e);
        }
    }
}
