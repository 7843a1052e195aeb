package ai.axolotl.train;

import ai.axolotl.config.AxolotlConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The {@code output_dir/checkpoint-<step>/} directories: atomic writes (everything goes into a hidden temporary
 * directory that is renamed into place only when complete), {@code save_total_limit} rotation, and finding the
 * latest complete checkpoint.
 */
public final class Checkpoints {
    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");

    private Checkpoints() {}

    /** The directory name for a step. */
    public static String name(int step) {
        return "checkpoint-" + step;
    }

    /** The hidden temporary directory every rank writes a checkpoint into before it is committed. */
    public static Path tmpDir(Path outputDir, int step) {
        return outputDir.resolve(".tmp-" + name(step));
    }

    /** Creates a fresh (emptied) temporary directory for a checkpoint; called by the main rank only. */
    public static Path begin(Path outputDir, int step) throws IOException {
        Files.createDirectories(outputDir);
        Path tmp = tmpDir(outputDir, step);
        deleteTree(tmp);
        Files.createDirectories(tmp);
        return tmp;
    }

    /** Moves a completed temporary directory into place as {@code checkpoint-<step>}. */
    public static Path commit(Path tmp, Path outputDir, int step) throws IOException {
        Path target = outputDir.resolve(name(step));
        Path old = null;
        if (Files.exists(target)) {
            old = outputDir.resolve(".old-" + name(step) + "-" + ProcessHandle.current().pid());
            deleteTree(old);
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        if (old != null) {
            deleteTree(old);
        }
        return target;
    }

    /** Complete checkpoints in {@code outputDir}, oldest first. */
    public static List<Path> list(Path outputDir) {
        if (!Files.isDirectory(outputDir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(outputDir)) {
            return s.filter(p -> NAME.matcher(p.getFileName().toString()).matches())
                    .filter(p -> Files.isRegularFile(p.resolve(TrainerState.FILE)))
                    .sorted(Comparator.comparingInt(Checkpoints::stepOf))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The newest complete checkpoint, if any. */
    public static Optional<Path> latest(Path outputDir) {
        List<Path> all = list(outputDir);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /**
     * The checkpoint a config resumes from, as the trainer will resolve it: none without
     * {@code resume_from_checkpoint}, the newest complete one in {@code output_dir} for {@code latest} (none when
     * there is none yet), else the directory named (the trainer checks it is one).
     */
    public static Optional<Path> resumeTarget(AxolotlConfig config) {
        String from = config.checkpoint().resumeFromCheckpoint();
        if (from == null) {
            return Optional.empty();
        }
        return from.equals("latest") ? latest(Path.of(config.checkpoint().outputDir())) : Optional.of(Path.of(from));
    }

    /** The step in a checkpoint directory's name. */
    public static int stepOf(Path dir) {
        Matcher m = NAME.matcher(dir.getFileName().toString());
        if (!m.matches()) {
            throw new IllegalArgumentException(dir + " is not a checkpoint-<step> directory");
        }
        return Integer.parseInt(m.group(1));
    }

    /** Deletes the oldest checkpoints so that at most {@code limit} remain (0: keep all). */
    public static List<Path> rotate(Path outputDir, int limit, Path justWritten) throws IOException {
        List<Path> removed = new ArrayList<>();
        if (limit <= 0) {
            return removed;
        }
        List<Path> all = new ArrayList<>(list(outputDir));
        all.removeIf(p -> p.equals(justWritten)); // never the checkpoint this run just committed
        int keep = Math.max(0, limit - 1);
        for (int i = 0; i < all.size() - keep; i++) {
            deleteTree(all.get(i));
            removed.add(all.get(i));
        }
        return removed;
    }

    /**
     * Before a fresh run (no resume) writes into {@code outputDir}: the checkpoints another run left there are
     * deleted when {@code overwrite} (overwrite_output_dir), else the run is refused naming them, since rotation
     * and {@code resume_from_checkpoint: true} would otherwise mix the two runs.
     *
     * @return the checkpoints deleted
     */
    public static List<Path> claimForFreshRun(Path outputDir, boolean overwrite, boolean delete) throws IOException {
        List<Path> stale = list(outputDir);
        if (stale.isEmpty()) {
            return List.of();
        }
        if (!overwrite) {
            throw new TrainingException("output_dir: " + outputDir + " holds another run's checkpoints ("
                    + stale.stream().map(p -> p.getFileName().toString()).toList() + "); resume them "
                    + "(resume_from_checkpoint: true), choose another output_dir, or set overwrite_output_dir: true "
                    + "to delete them");
        }
        if (delete) {
            for (Path p : stale) {
                deleteTree(p);
            }
        }
        return stale;
    }

    /** Deletes a directory tree if it exists. */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
