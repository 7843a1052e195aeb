package ai.axolotl.hub;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Optional;

/**
 * The Hugging Face cache on disk, in {@code huggingface_hub}'s layout: {@code <root>/models--org--name/} with
 * {@code blobs/<etag>} (file contents named by their LFS sha256 or git blob sha1), {@code refs/<revision>} (the
 * commit a branch or tag pointed at) and {@code snapshots/<commit>/<path>} (links to the blobs).
 */
public final class HubCache {
    private final Path root;

    /** @param root the hub cache directory (the one holding {@code models--*} folders) */
    public HubCache(Path root) {
        this.root = root;
    }

    /**
     * The cache {@code huggingface_hub} uses for {@code env}: {@code HF_HUB_CACHE}, else {@code HF_HOME/hub},
     * else {@code XDG_CACHE_HOME/huggingface/hub}, else {@code ~/.cache/huggingface/hub}.
     */
    public static HubCache fromEnvironment(Map<String, String> env) {
        if (env.get("HF_HUB_CACHE") != null) {
            return new HubCache(Path.of(env.get("HF_HUB_CACHE")));
        }
        if (env.get("HF_HOME") != null) {
            return new HubCache(Path.of(env.get("HF_HOME")).resolve("hub"));
        }
        String xdg = env.get("XDG_CACHE_HOME");
        Path base = xdg != null ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return new HubCache(base.resolve("huggingface").resolve("hub"));
    }

    /** The cache root. */
    public Path root() {
        return root;
    }

    Path repoDir(RepoType type, String repo) {
        return root.resolve(type.cachePrefix + "--" + repo.replace("/", "--"));
    }

    static boolean isCommit(String revision) {
        return revision.matches("[0-9a-f]{40}");
    }

    /** The commit {@code revision} names in the cache (itself when it is a commit hash). */
    Optional<String> commit(RepoType type, String repo, String revision) {
        if (isCommit(revision)) {
            return Optional.of(revision);
        }
        Path ref = repoDir(type, repo).resolve("refs").resolve(revision);
        try {
            return Files.isRegularFile(ref) ? Optional.of(Files.readString(ref).strip()) : Optional.empty();
        } catch (IOException e) {
            throw new HubException("cannot read " + ref + ": " + e.getMessage(), e);
        }
    }

    /** The snapshot directory of a commit. */
    Path snapshot(RepoType type, String repo, String commit) {
        return repoDir(type, repo).resolve("snapshots").resolve(commit);
    }

    Path blob(RepoType type, String repo, String etag) {
        return repoDir(type, repo).resolve("blobs").resolve(etag);
    }

    /** Records that {@code revision} points at {@code commit} (written atomically). */
    void writeRef(RepoType type, String repo, String revision, String commit) throws IOException {
        if (isCommit(revision)) {
            return;
        }
        Path ref = repoDir(type, repo).resolve("refs").resolve(revision);
        Files.createDirectories(ref.getParent());
        Path tmp = Files.createTempFile(ref.getParent(), ".ref", ".tmp");
        Files.writeString(tmp, commit, StandardCharsets.UTF_8);
        move(tmp, ref);
    }

    /**
     * Makes {@code snapshots/<commit>/<file>} point at the blob: a relative symbolic link as
     * {@code huggingface_hub} makes, or a copy where the file system has no links.
     */
    void link(RepoType type, String repo, String commit, String file, String etag) throws IOException {
        Path target = snapshot(type, repo, commit).resolve(file);
        Files.createDirectories(target.getParent());
        Path blob = blob(type, repo, etag);
        Path relative = target.getParent().relativize(blob);
        Path tmp = target.resolveSibling("." + target.getFileName() + "." + ProcessHandle.current().pid() + "."
                + Thread.currentThread().getId() + ".tmp");
        Files.deleteIfExists(tmp);
        try {
            Files.createSymbolicLink(tmp, relative);
        } catch (UnsupportedOperationException | IOException e) {
            Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        move(tmp, target);
    }

    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
