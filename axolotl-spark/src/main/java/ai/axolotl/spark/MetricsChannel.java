package ai.axolotl.spark;

import ai.axolotl.train.EvalResult;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainingListener;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * Streams rank 0's training events to listeners on the driver while the barrier stage runs: the driver serves a
 * socket ({@link Server}), rank 0's task connects and writes one JSON line per event ({@link Reporter}). Events
 * arrive in order on one driver thread. After a stage retry the resumed run reports again from the step after
 * its checkpoint.
 */
final class MetricsChannel {
    private static final Logger LOG = LoggerFactory.getLogger(MetricsChannel.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CONNECT_TIMEOUT_MS = 10_000;

    private MetricsChannel() {}

    /** The driver's end: accepts rank 0's connections and calls the listeners. */
    static final class Server implements AutoCloseable {
        private final ServerSocket socket;
        private final String endpoint;
        private final List<TrainingListener> listeners;
        private final Thread acceptor;

        /**
         * @param advertisedHost the driver host the executors reach ({@code spark.driver.host})
         * @param listeners the driver-side listeners
         */
        Server(String advertisedHost, List<TrainingListener> listeners) {
            this.listeners = List.copyOf(listeners);
            try {
                this.socket = new ServerSocket();
                socket.bind(new InetSocketAddress(0));
            } catch (IOException e) {
                throw new SparkTrainingException("cannot open the driver's metrics socket: " + e.getMessage(), e);
            }
            this.endpoint = advertisedHost + ":" + socket.getLocalPort();
            this.acceptor = new Thread(this::acceptLoop, "axolotl-spark-metrics");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        /** {@code host:port} for the reporter. */
        String endpoint() {
            return endpoint;
        }

        private void acceptLoop() {
            while (!socket.isClosed()) {
                try (Socket s = socket.accept();
                     BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                             StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = in.readLine()) != null) {
                        dispatch(line);
                    }
                } catch (IOException e) {
                    if (!socket.isClosed()) {
                        LOG.warn("metrics connection from rank 0 ended: {}", e.getMessage());
                    }
                }
            }
        }

        private void dispatch(String line) throws IOException {
            JsonNode n = JSON.readTree(line);
            String event = n.path("event").asText();
            for (TrainingListener l : listeners) {
                try {
                    switch (event) {
                        case "step" -> l.onStep(JSON.treeToValue(n.get("metrics"), StepMetrics.class));
                        case "eval" -> l.onEvaluation(n.get("step").asInt(),
                                new EvalResult(n.get("loss").asDouble(), n.get("tokens").asLong()));
                        case "checkpoint" -> l.onCheckpoint(n.get("step").asInt(), Path.of(n.get("dir").asText()));
                        default -> LOG.warn("unknown metrics event '{}' from rank 0", event);
                    }
                } catch (RuntimeException e) {
                    LOG.error("driver listener {} failed on a '{}' event: {}", l.getClass().getName(), event,
                            e.toString());
                }
            }
        }

        @Override
        public void close() {
            try {
                socket.close();
                acceptor.join(5_000);
            } catch (IOException e) {
                LOG.warn("closing the metrics socket: {}", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Rank 0's end: a listener that forwards each event to the driver. */
    static final class Reporter implements TrainingListener, AutoCloseable {
        private final String endpoint;
        private Socket socket;
        private Writer out;

        /** Connects to {@code host:port}; on failure warns once and reports nothing (metrics.jsonl still has it). */
        Reporter(String endpoint) {
            this.endpoint = endpoint;
            int colon = endpoint.lastIndexOf(':');
            try {
                socket = new Socket();
                socket.connect(new InetSocketAddress(endpoint.substring(0, colon),
                        Integer.parseInt(endpoint.substring(colon + 1))), CONNECT_TIMEOUT_MS);
                out = new OutputStreamWriter(socket.getOutputStream(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                LOG.warn("rank 0 cannot reach the driver's metrics socket {} ({}); the driver's listeners get no "
                        + "live events (metrics.jsonl and the returned result still have them)", endpoint,
                        e.getMessage());
                closeQuietly();
            }
        }

        @Override
        public void onStep(StepMetrics m) {
            ObjectNode n = JSON.createObjectNode().put("event", "step");
            n.set("metrics", JSON.valueToTree(m));
            send(n);
        }

        @Override
        public void onEvaluation(int step, EvalResult r) {
            send(JSON.createObjectNode().put("event", "eval").put("step", step).put("loss", r.loss())
                    .put("tokens", r.tokens()));
        }

        @Override
        public void onCheckpoint(int step, Path dir) {
            send(JSON.createObjectNode().put("event", "checkpoint").put("step", step).put("dir", dir.toString()));
        }

        private void send(ObjectNode n) {
            if (out == null) {
                return;
            }
            try {
                out.write(JSON.writeValueAsString(n));
                out.write('\n');
                out.flush();
            } catch (IOException e) {
                LOG.warn("lost the driver's metrics socket {} ({}); no more live events", endpoint, e.getMessage());
                closeQuietly();
            }
        }

        private void closeQuietly() {
            out = null;
            if (socket != null) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // closing a socket that already failed
                }
            }
        }

        @Override
        public void close() {
            closeQuietly();
        }
    }
}
