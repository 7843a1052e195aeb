package ai.axolotl.hub;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A Hub on the loopback interface speaking the endpoints {@code huggingface_hub} uses: the revision API with
 * {@code blobs=true} (commit, files, sizes, git blob ids, LFS sha256), {@code resolve} downloads with
 * {@code Range}, LFS files redirected to a "CDN" on another host name, the {@code X-Error-Code} 404s and 401 for
 * private repositories. Faults on demand: a connection cut mid-file, bytes that do not match the hash.
 */
final class FakeHub implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    record Repo(String commit, Map<String, byte[]> files, List<String> lfs, String token) {}

    final HttpServer server;
    final Map<String, Repo> repos = new ConcurrentHashMap<>();
    final List<String> requests = Collections.synchronizedList(new ArrayList<>());
    final Map<String, String> authorizations = new ConcurrentHashMap<>();
    final Map<String, Integer> cutAfter = new ConcurrentHashMap<>();
    final Map<String, byte[]> corrupt = new ConcurrentHashMap<>();

    FakeHub() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    /** The endpoint (HF_ENDPOINT) on 127.0.0.1; LFS redirects go to "localhost", another host name. */
    String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    void add(String key, String commit, Map<String, byte[]> files, List<String> lfs, String token) {
        repos.put(key, new Repo(commit, new LinkedHashMap<>(files), lfs, token));
    }

    static String sha(String algo, byte[] prefix, byte[] data) {
        try {
            MessageDigest md = MessageDigest.getInstance(algo);
            if (prefix != null) {
                md.update(prefix);
            }
            return HexFormat.of().formatHex(md.digest(data));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static String blobId(byte[] data) {
        return sha("SHA-1", ("blob " + data.length + "\0").getBytes(StandardCharsets.US_ASCII), data);
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String range = ex.getRequestHeaders().getFirst("Range");
        requests.add(path + (range == null ? "" : " " + range));
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        authorizations.put(path, auth == null ? "" : auth);
        try {
            if (path.startsWith("/cdn/")) {
                serveCdn(ex, path.substring("/cdn/".length()), range);
            } else if (path.startsWith("/api/")) {
                api(ex, path, auth);
            } else {
                resolve(ex, path, auth, range);
            }
        } finally {
            ex.close();
        }
    }

    private void api(HttpExchange ex, String path, String auth) throws IOException {
        // /api/{models|datasets}/{org}/{name}/revision/{rev}
        String[] p = path.split("/");
        String key = p[2] + "/" + p[3] + "/" + p[4];
        String rev = java.net.URLDecoder.decode(p[6], StandardCharsets.UTF_8);
        Repo repo = repos.get(key);
        if (repo != null && repo.token() != null && !("Bearer " + repo.token()).equals(auth)) {
            send(ex, 401, "Unauthorized", null);
            return;
        }
        if (repo == null) {
            send(ex, 404, "Repository not found", "RepoNotFound");
            return;
        }
        if (!rev.equals("main") && !rev.equals(repo.commit())) {
            send(ex, 404, "Revision not found", "RevisionNotFound");
            return;
        }
        ObjectNode info = JSON.createObjectNode().put("sha", repo.commit());
        ArrayNode siblings = info.putArray("siblings");
        repo.files().forEach((name, data) -> {
            ObjectNode s = siblings.addObject().put("rfilename", name).put("size", data.length)
                    .put("blobId", blobId(data));
            if (repo.lfs().contains(name)) {
                s.putObject("lfs").put("sha256", sha("SHA-256", null, data)).put("size", data.length);
            }
        });
        send(ex, 200, JSON.writeValueAsString(info), null);
    }

    private void resolve(HttpExchange ex, String path, String auth, String range) throws IOException {
        // /{datasets/}{org}/{name}/resolve/{commit}/{file...}
        String rest = path.substring(1);
        String type = "models";
        if (rest.startsWith("datasets/")) {
            type = "datasets";
            rest = rest.substring("datasets/".length());
        }
        String[] p = rest.split("/", 5);
        Repo repo = repos.get(type + "/" + p[0] + "/" + p[1]);
        if (repo == null || !p[2].equals("resolve")) {
            send(ex, 404, "Repository not found", "RepoNotFound");
            return;
        }
        if (repo.token() != null && !("Bearer " + repo.token()).equals(auth)) {
            send(ex, 401, "Unauthorized", null);
            return;
        }
        String file = p[4];
        byte[] data = repo.files().get(file);
        if (data == null) {
            send(ex, 404, "Entry not found", "EntryNotFound");
            return;
        }
        if (repo.lfs().contains(file)) {
            String sha = sha("SHA-256", null, data);
            ex.getResponseHeaders().add("Location", "http://localhost:" + server.getAddress().getPort() + "/cdn/"
                    + type + "/" + p[0] + "/" + p[1] + "/" + file);
            ex.getResponseHeaders().add("X-Linked-Etag", "\"" + sha + "\"");
            ex.sendResponseHeaders(302, -1);
            return;
        }
        body(ex, type + "/" + p[0] + "/" + p[1] + "/" + file, data, range);
    }

    private void serveCdn(HttpExchange ex, String key, String range) throws IOException {
        String[] p = key.split("/", 4);
        Repo repo = repos.get(p[0] + "/" + p[1] + "/" + p[2]);
        body(ex, key, repo.files().get(p[3]), range);
    }

    private void body(HttpExchange ex, String key, byte[] data, String range) throws IOException {
        byte[] served = corrupt.getOrDefault(key, data);
        int from = 0;
        if (range != null && range.startsWith("bytes=")) {
            from = Integer.parseInt(range.substring(6, range.indexOf('-')));
        }
        int length = served.length - from;
        ex.sendResponseHeaders(from > 0 ? 206 : 200, length);
        OutputStream out = ex.getResponseBody();
        Integer cut = cutAfter.remove(key);
        if (cut != null) {
            out.write(served, from, cut);
            out.flush();
            // drop the connection mid-body: the client sees fewer bytes than Content-Length
            ex.getHttpContext().getServer();
            throw new IOException("cut on purpose");
        }
        out.write(served, from, length);
    }

    private static void send(HttpExchange ex, int code, String body, String errorCode) throws IOException {
        if (errorCode != null) {
            ex.getResponseHeaders().add("X-Error-Code", errorCode);
        }
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(code, b.length);
        ex.getResponseBody().write(b);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
