package ai.axolotl.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Talks to the Hub's HTTP endpoints as {@code huggingface_hub} does: {@code GET /api/{models|datasets}/{repo}/
 * revision/{revision}?blobs=true} for the commit and its files (sizes, LFS sha256, git blob ids), and
 * {@code GET /{datasets/}{repo}/resolve/{commit}/{file}} for contents (redirects followed, the token dropped when
 * the host changes). Downloads go to {@code blobs/<etag>.incomplete}, resume with a {@code Range} request after a
 * cut connection, are verified (size and sha256 for LFS files, size and git blob sha1 otherwise) and renamed into
 * place; then the snapshot link and the ref are written. Concurrent downloads of one blob (ranks on one machine)
 * take turns on a file lock.
 */
public final class HubClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int ATTEMPTS = 4;
    private static final Map<Path, ReentrantLock> LOCKS = new ConcurrentHashMap<>();

    private final String endpoint;
    private final String token;
    private final boolean offline;
    private final HubCache cache;
    private final Consumer<String> progress;
    private final HttpClient http;

    /**
     * @param endpoint the Hub's base URL ({@code https://huggingface.co})
     * @param token a user access token, or null
     * @param offline never touch the network
     * @param cache where files live
     * @param progress receives progress lines
     */
    public HubClient(String endpoint, String token, boolean offline, HubCache cache, Consumer<String> progress) {
        this.endpoint = endpoint.endsWith("/") ? endpoint.substring(0, endpoint.length() - 1) : endpoint;
        this.token = token == null || token.isBlank() ? null : token.strip();
        this.offline = offline;
        this.cache = cache;
        this.progress = progress;
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(30)).build();
    }

    /**
     * The client {@code huggingface_hub} would make for {@code env}: {@code HF_ENDPOINT} (default the public Hub),
     * {@code HF_TOKEN} (or {@code HUGGING_FACE_HUB_TOKEN}, or the token file under {@code HF_HOME}),
     * {@code HF_HUB_OFFLINE}, and the cache of {@link HubCache#fromEnvironment}.
     */
    public static HubClient fromEnvironment(Map<String, String> env, Consumer<String> progress) {
        String endpoint = env.getOrDefault("HF_ENDPOINT", "https://huggingface.co");
        String token = env.get("HF_TOKEN") != null ? env.get("HF_TOKEN") : env.get("HUGGING_FACE_HUB_TOKEN");
        if (token == null) {
            Path home = env.get("HF_HOME") != null ? Path.of(env.get("HF_HOME"))
                    : Path.of(System.getProperty("user.home"), ".cache", "huggingface");
            Path file = env.get("HF_TOKEN_PATH") != null ? Path.of(env.get("HF_TOKEN_PATH")) : home.resolve("token");
            try {
                token = Files.isRegularFile(file) ? Files.readString(file).strip() : null;
            } catch (IOException e) {
                token = null;
            }
        }
        String off = env.getOrDefault("HF_HUB_OFFLINE", "");
        boolean offline = off.equals("1") || off.equalsIgnoreCase("true") || off.equalsIgnoreCase("yes")
                || off.equalsIgnoreCase("on");
        return new HubClient(endpoint, token, offline, HubCache.fromEnvironment(env), progress);
    }

    /** The cache this client reads and fills. */
    public HubCache cache() {
        return cache;
    }

    /** Whether the client may not touch the network. */
    public boolean offline() {
        return offline;
    }

    /** One file of a revision as the Hub lists it. */
    public record RemoteFile(String path, long size, String blobId, String lfsSha256) {
        /** The name of the blob in the cache: the LFS sha256, else the git blob id. */
        String etag() {
            return lfsSha256 != null ? lfsSha256 : blobId;
        }
    }

    /** A revision's commit and files. */
    public record Revision(String commit, List<RemoteFile> files) {
        /** The file at {@code path}, if the revision has it. */
        public Optional<RemoteFile> file(String path) {
            return files.stream().filter(f -> f.path().equals(path)).findFirst();
        }
    }

    /** The commit {@code revision} names and its files, from the Hub. */
    public Revision revision(RepoType type, String repo, String revision) {
        if (offline) {
            throw new HubException(repo + "@" + revision + ": HF_HUB_OFFLINE is set and the cache does not hold "
                    + "what is needed (" + cache.repoDir(type, repo) + ")");
        }
        URI uri = URI.create(endpoint + "/api/" + type.apiSegment + "/" + repo + "/revision/"
                + URLEncoder.encode(revision, StandardCharsets.UTF_8) + "?blobs=true");
        HttpResponse<byte[]> r = send(uri, null, HttpResponse.BodyHandlers.ofByteArray(), repo, revision, null);
        try {
            JsonNode info = JSON.readTree(r.body());
            String commit = info.path("sha").asText(null);
            if (commit == null) {
                throw new HubException(repo + "@" + revision + ": the Hub's answer has no commit (sha)");
            }
            List<RemoteFile> files = new ArrayList<>();
            for (JsonNode s : info.path("siblings")) {
                JsonNode lfs = s.get("lfs");
                files.add(new RemoteFile(s.path("rfilename").asText(), s.path("size").asLong(-1),
                        s.path("blobId").asText(null), lfs == null || lfs.isNull() ? null : lfs.path("sha256")
                        .asText(null)));
            }
            return new Revision(commit, files);
        } catch (IOException e) {
            throw new HubException(repo + "@" + revision + ": unreadable answer from " + uri + ": " + e.getMessage(),
                    e);
        }
    }

    /**
     * Ensures {@code file} of {@code commit} is in the snapshot (downloading and verifying it when absent) and
     * records {@code revision}; returns its path in the snapshot.
     */
    public Path fetch(RepoType type, String repo, String revision, Revision rev, RemoteFile file) {
        Path target = cache.snapshot(type, repo, rev.commit()).resolve(file.path());
        try {
            if (!Files.exists(target)) {
                String etag = file.etag();
                if (etag == null) {
                    throw new HubException(repo + "@" + revision + ": the Hub gives no hash for " + file.path()
                            + " (cannot verify it)");
                }
                Path blob = cache.blob(type, repo, etag);
                if (!Files.isRegularFile(blob)) {
                    download(type, repo, revision, rev.commit(), file, blob);
                }
                cache.link(type, repo, rev.commit(), file.path(), etag);
            }
            cache.writeRef(type, repo, revision, rev.commit());
            return target;
        } catch (IOException e) {
            throw new HubException(repo + "@" + revision + ": cannot write " + file.path() + " into the cache "
                    + cache.root() + ": " + e.getMessage(), e);
        }
    }

    private void download(RepoType type, String repo, String revision, String commit, RemoteFile file, Path blob)
            throws IOException {
        Files.createDirectories(blob.getParent());
        Path incomplete = blob.resolveSibling(blob.getFileName() + ".incomplete");
        Path lockFile = blob.resolveSibling(blob.getFileName() + ".lock");
        ReentrantLock jvmLock = LOCKS.computeIfAbsent(lockFile.toAbsolutePath(), p -> new ReentrantLock());
        jvmLock.lock();
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = ch.lock()) {
            if (Files.isRegularFile(blob)) {
                return; // another rank finished it while this one waited
            }
            URI uri = URI.create(endpoint + "/" + type.resolvePrefix + repo + "/resolve/" + commit + "/"
                    + encodePath(file.path()));
            IOException last = null;
            for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
                long have = Files.isRegularFile(incomplete) ? Files.size(incomplete) : 0;
                try {
                    copyFrom(uri, repo, revision, file, incomplete, have);
                    last = null;
                    break;
                } catch (IOException e) {
                    last = e;
                    progress.accept("download of " + repo + "@" + shortCommit(commit) + " " + file.path()
                            + " was cut (" + e.getMessage() + "); resuming (attempt " + (attempt + 1) + " of "
                            + ATTEMPTS + ")");
                }
            }
            if (last != null) {
                throw new HubException(repo + "@" + revision + ": downloading " + file.path() + " failed after "
                        + ATTEMPTS + " attempts: " + last.getMessage() + " (the partial file is kept and resumed "
                        + "next time)", last);
            }
            verify(repo, revision, file, incomplete);
            HubCache.move(incomplete, blob);
        } finally {
            jvmLock.unlock();
        }
    }

    private void copyFrom(URI uri, String repo, String revision, RemoteFile file, Path incomplete, long have)
            throws IOException {
        HttpResponse<InputStream> r = send(uri, have > 0 ? "bytes=" + have + "-" : null,
                HttpResponse.BodyHandlers.ofInputStream(), repo, revision, file.path());
        boolean append = have > 0 && r.statusCode() == 206;
        long done = append ? have : 0;
        long total = file.size() > 0 ? file.size() : r.headers().firstValueAsLong("content-length").orElse(-1);
        int lastDecile = -1;
        try (InputStream in = r.body();
             OutputStream out = Files.newOutputStream(incomplete, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
                done += n;
                int decile = total > 0 ? (int) (done * 10 / total) : -1;
                if (decile != lastDecile && decile >= 0) {
                    lastDecile = decile;
                    progress.accept(String.format("downloading %s %s: %d%% (%s of %s)", repo, file.path(),
                            decile * 10, mib(done), mib(total)));
                }
            }
        }
        if (total > 0 && done < total) {
            throw new IOException("connection closed after " + done + " of " + total + " bytes");
        }
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "?" : String.format("%.1f MiB", bytes / 1048576.0);
    }

    private static void verify(String repo, String revision, RemoteFile file, Path data) throws IOException {
        long size = Files.size(data);
        if (file.size() >= 0 && size != file.size()) {
            Files.delete(data);
            throw new HubException(repo + "@" + revision + ": " + file.path() + " has " + size + " bytes, the Hub "
                    + "says " + file.size() + " (discarded)");
        }
        String expected = file.lfsSha256() != null ? file.lfsSha256() : file.blobId();
        String actual = file.lfsSha256() != null ? digest(data, "SHA-256", null) : digest(data, "SHA-1",
                ("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
        if (!actual.equals(expected)) {
            Files.delete(data);
            throw new HubException(repo + "@" + revision + ": " + file.path() + " does not match the Hub's "
                    + (file.lfsSha256() != null ? "sha256" : "git blob id") + " (expected " + expected + ", got "
                    + actual + "; discarded)");
        }
    }

    private static String digest(Path data, String algorithm, byte[] prefix) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance(algorithm);
            if (prefix != null) {
                md.update(prefix);
            }
            try (InputStream in = Files.newInputStream(data)) {
                byte[] buf = new byte[1 << 16];
                int n;
                while ((n = in.read(buf)) >= 0) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String encodePath(String path) {
        StringBuilder b = new StringBuilder();
        for (String part : path.split("/")) {
            if (!b.isEmpty()) {
                b.append('/');
            }
            b.append(URLEncoder.encode(part, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return b.toString();
    }

    static String shortCommit(String commit) {
        return commit.length() > 7 ? commit.substring(0, 7) : commit;
    }

    /** Sends a GET, following redirects (the token only to the endpoint's host), failing on HTTP errors. */
    private <T> HttpResponse<T> send(URI uri, String range, HttpResponse.BodyHandler<T> handler, String repo,
            String revision, String file) {
        URI current = uri;
        String host = URI.create(endpoint).getHost();
        for (int hop = 0; hop < 6; hop++) {
            HttpRequest.Builder req = HttpRequest.newBuilder(current).timeout(Duration.ofMinutes(10)).GET()
                    .header("User-Agent", "axolotl-java");
            if (token != null && host != null && host.equals(current.getHost())) {
                req.header("Authorization", "Bearer " + token);
            }
            if (range != null) {
                req.header("Range", range);
            }
            HttpResponse<T> r;
            try {
                r = http.send(req.build(), handler);
            } catch (IOException e) {
                throw new HubException("cannot reach " + endpoint + " for " + repo + "@" + revision
                        + (file == null ? "" : " " + file) + ": " + e + " (set HF_HUB_OFFLINE=1 to use the cache "
                        + "only)", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new HubException("interrupted while fetching " + repo + "@" + revision, e);
            }
            int code = r.statusCode();
            if (code >= 300 && code < 400 && r.headers().firstValue("location").isPresent()) {
                drain(r);
                current = current.resolve(r.headers().firstValue("location").get());
                continue;
            }
            if (code >= 400) {
                drain(r);
                throw httpError(code, r.headers().firstValue("x-error-code").orElse(""), repo, revision, file);
            }
            return r;
        }
        throw new HubException(repo + "@" + revision + ": too many redirects fetching " + uri);
    }

    private static void drain(HttpResponse<?> r) {
        if (r.body() instanceof InputStream in) {
            try {
                in.close();
            } catch (IOException ignored) {
                // the body of an error or redirect is not needed
            }
        }
    }

    private HubException httpError(int code, String errorCode, String repo, String revision, String file) {
        String where = repo + "@" + revision + (file == null ? "" : " " + file);
        if (code == 401 || code == 403) {
            return new HubException(where + ": " + code + (token == null
                    ? " the repository is private, gated or does not exist, and no token is set (set HF_TOKEN)"
                    : " the token in HF_TOKEN is not allowed to read it (gated: accept its terms on the Hub)"));
        }
        if (code == 404) {
            return switch (errorCode) {
                case "RevisionNotFound" -> new HubException(repo + ": revision '" + revision + "' not found");
                case "EntryNotFound" -> new HubException(where + ": file not found in the repository");
                default -> new HubException(file == null
                        ? repo + ": repository not found" + (token == null ? " (or private: set HF_TOKEN)" : "")
                        + (repo.contains("/") && !repo.startsWith("/") ? "; nor is it a local path" : "")
                        : where + ": not found (404)");
            };
        }
        return new HubException(where + ": the Hub answered HTTP " + code);
    }
}
