package ai.axolotl.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes {@code output_dir/metrics.jsonl} (one JSON object per logging step and per evaluation), the matching
 * log lines, and a progress bar when standard error is a terminal. Only the main rank writes the file; one rank per
 * node (local rank 0) prints the step and evaluation lines (the loss is the world's, the same on every rank), the
 * others log them at debug level, so ranks sharing a console (the threads launcher, the local launcher's output)
 * do not repeat each step.
 */
public final class MetricsLog implements AutoCloseable {
    /** File name in output_dir. */
    public static final String FILE = "metrics.jsonl";
    private static final Logger LOG = LoggerFactory.getLogger("axolotl.train");
    private static final ObjectMapper JSON = new ObjectMapper();
    private final BufferedWriter out;
    private final boolean progress;
    private final PrintStream err = System.err;
    private final int totalSteps;
    private final boolean console;

    /**
     * @param outputDir where metrics.jsonl goes; null: no file (non-main ranks)
     * @param totalSteps steps of the run, for the progress bar
     * @param append keep earlier lines (resume)
     * @param console print the step and evaluation lines (else log them at debug level)
     */
    public MetricsLog(Path outputDir, int totalSteps, boolean append, boolean console) {
        this(outputDir, totalSteps, append ? Integer.MAX_VALUE : -1, console);
    }

    /**
     * @param outputDir where metrics.jsonl goes; null: no file (non-main ranks)
     * @param totalSteps steps of the run, for the progress bar
     * @param resumedAt the step a resumed run continues from: the file's lines of later steps (written by the run
     *                  that crashed after that checkpoint) are dropped, so each step has one line; -1: a fresh
     *                  file
     * @param console print the step and evaluation lines (else log them at debug level)
     */
    public MetricsLog(Path outputDir, int totalSteps, int resumedAt, boolean console) {
        boolean append = resumedAt >= 0;
        if (outputDir != null && append) {
            keepLinesUpTo(outputDir.resolve(FILE), resumedAt);
        }
        this.totalSteps = totalSteps;
        this.console = console;
        this.progress = outputDir != null && System.console() != null && System.getenv("CI") == null;
        try {
            if (outputDir != null) {
                Files.createDirectories(outputDir);
                this.out = Files.newBufferedWriter(outputDir.resolve(FILE), StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE,
                        append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING);
            } else {
                this.out = null;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + outputDir.resolve(FILE) + ": " + e.getMessage(), e);
        }
    }

    /** Rewrites the file without the lines of steps after {@code step} (through a temporary file and a rename). */
    private static void keepLinesUpTo(Path file, int step) {
        if (!Files.isRegularFile(file)) {
            return;
        }
        try {
            List<String> kept = new ArrayList<>();
            int dropped = 0;
            for (String line : Files.readAllLines(file)) {
                int at = -1;
                try {
                    at = JSON.readTree(line).path("step").asInt(-1);
                } catch (IOException e) {
                    // a line the crash cut in half: dropped below
                }
                if (at >= 0 && at <= step) {
                    kept.add(line);
                } else {
                    dropped++;
                }
            }
            if (dropped > 0) {
                Path tmp = file.resolveSibling(FILE + ".tmp");
                Files.write(tmp, kept);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                LOG.info("{}: dropped {} lines of steps after {} (written before the run stopped)", file, dropped,
                        step);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rewrite " + file + ": " + e.getMessage(), e);
        }
    }

    /** Logs a window of steps: mean loss, last lr and grad norm, tokens per second over the window. */
    public void logSteps(int step, double meanLoss, double lr, double gradNorm, double tokensPerS, double epoch) {
        logSteps(step, meanLoss, lr, gradNorm, tokensPerS, epoch, Map.of());
    }

    /**
     * Logs a window of steps with run-specific fields after the standard ones ({@code loss_scale} and
     * {@code skipped_steps} under fp16), in the JSON line and the log line.
     */
    public void logSteps(int step, double meanLoss, double lr, double gradNorm, double tokensPerS, double epoch,
                         Map<String, Object> extras) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put("loss", round(meanLoss));
        m.put("lr", lr);
        m.put("grad_norm", round(gradNorm));
        m.put("tokens_per_s", Math.round(tokensPerS * 10) / 10.0);
        m.put("epoch", Math.round(epoch * 10000) / 10000.0);
        m.putAll(extras);
        write(m);
        clearBar();
        StringBuilder more = new StringBuilder();
        extras.forEach((k, v) -> more.append("  ").append(k).append(' ').append(v));
        say(String.format(Locale.ROOT, "step %d/%d  loss %.4f  lr %.3e  grad_norm %.3f  tokens/s %.0f  "
                + "epoch %.3f%s", step, totalSteps, meanLoss, lr, gradNorm, tokensPerS, epoch, more));
    }

    /** Logs an evaluation. */
    public void logEval(int step, EvalResult r, double epoch) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put("eval_loss", round(r.loss()));
        m.put("eval_tokens", r.tokens());
        m.put("eval_perplexity", round(r.perplexity()));
        m.put("epoch", Math.round(epoch * 10000) / 10000.0);
        write(m);
        clearBar();
        say(String.format(Locale.ROOT, "eval at step %d: loss %.4f  perplexity %.3f  (%d tokens)", step,
                r.loss(), r.perplexity(), r.tokens()));
    }

    private void say(String line) {
        if (console) {
            LOG.info(line);
        } else {
            LOG.debug(line);
        }
    }

    /** Redraws the progress bar (terminal only). */
    public void progress(int step, double loss) {
        if (!progress) {
            return;
        }
        int width = 30;
        int filled = (int) ((long) width * step / Math.max(1, totalSteps));
        err.print(String.format(Locale.ROOT, "\r[%s%s] %d/%d loss %.4f", "=".repeat(filled),
                " ".repeat(width - filled), step, totalSteps, loss));
        err.flush();
    }

    private void clearBar() {
        if (progress) {
            err.print("\r" + " ".repeat(70) + "\r");
        }
    }

    private static double round(double v) {
        return Double.isFinite(v) ? Math.round(v * 1e6) / 1e6 : v;
    }

    private void write(Map<String, Object> m) {
        if (out == null) {
            return;
        }
        try {
            out.write(JSON.writeValueAsString(m));
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        clearBar();
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
