package ai.axolotl.bench;

import ai.axolotl.model.CausalLmLoss;
import ai.axolotl.model.ChunkedCrossEntropy;
import ai.axolotl.model.ModelParallelism;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.runtime.Tensors;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code axolotl bench --loss}: the memory of the output projection and loss of one micro-batch, from the final
 * hidden states to their gradient and the weight's, with the whole logits (plain) and in chunks
 * ({@code cut_cross_entropy}). Measured as the process's peak RSS above what it held before (Linux
 * {@code /proc/self/clear_refs} resets the peak), the two alternated over rounds, medians reported; both include
 * the weight's gradient ({@code vocab x hidden} fp32) and the hidden states' gradient.
 */
public final class LossMemoryBenchmark {
    private final int vocab;
    private final int tokens;
    private final int hidden;
    private final int rounds;

    /**
     * @param vocab vocabulary size (151,936: Qwen's)
     * @param tokens tokens of the micro-batch
     * @param hidden hidden size
     * @param rounds alternated rounds of plain and chunked
     */
    public LossMemoryBenchmark(int vocab, int tokens, int hidden, int rounds) {
        this.vocab = vocab;
        this.tokens = tokens;
        this.hidden = hidden;
        this.rounds = rounds;
    }

    /** Runs the rounds and returns one JSON line. */
    public String run() throws Exception {
        Natives.load();
        List<Long> plain = new ArrayList<>();
        List<Long> chunked = new ArrayList<>();
        double[] losses = new double[2];
        for (int r = 0; r < rounds; r++) {
            plain.add(peakBytes(vocab, tokens, hidden, 0, losses, 0));
            chunked.add(peakBytes(vocab, tokens, hidden, ChunkedCrossEntropy.chunkElements(), losses, 1));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("benchmark", "loss_memory");
        out.put("vocab", vocab);
        out.put("tokens", tokens);
        out.put("hidden", hidden);
        out.put("logits_bytes_fp32", 4L * vocab * tokens);
        out.put("weight_grad_bytes", 4L * vocab * hidden);
        out.put("chunk_elements", ChunkedCrossEntropy.chunkElements());
        out.put("rounds", rounds);
        out.put("plain_peak_bytes", median(plain));
        out.put("chunked_peak_bytes", median(chunked));
        out.put("plain_peak_bytes_all", plain);
        out.put("chunked_peak_bytes_all", chunked);
        out.put("chunked_vs_plain", Math.round(1000.0 * median(chunked) / median(plain)) / 1000.0);
        out.put("loss_plain", losses[0]);
        out.put("loss_chunked", losses[1]);
        out.put("allocator", ProcessMemory.nativeAllocator());
        return new ObjectMapper().writeValueAsString(out);
    }

    /**
     * The resident size after a garbage collection, once it stops moving: JDK 17's G1 returns heap memory to the
     * system concurrently after {@code System.gc()}, and a baseline taken while it still does so would hide that
     * much of the measured peak.
     */
    static long settledRss() {
        System.gc();
        long last = ProcessMemory.rssBytes();
        long deadline = System.nanoTime() + 3_000_000_000L;
        while (System.nanoTime() < deadline) {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            long now = ProcessMemory.rssBytes();
            if (Math.abs(now - last) < (1L << 20)) {
                return now;
            }
            last = now;
        }
        return last;
    }

    /**
     * Peak RSS above the start of one loss forward and backward ({@code chunkElements} 0: plain), the weight and
     * hidden states made before the start; the loss (mean over tokens) goes into {@code losses[slot]}.
     */
    public static long peakBytes(int vocab, int tokens, int hidden, long chunkElements, double[] losses, int slot) {
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(7);
            Tensor w = torch.empty(new long[] {vocab, hidden}, Tensors.options(ScalarType.Float), null);
            w.normal_(0.0, 0.02, new GeneratorOptional());
            w.requires_grad_(true);
            Tensor h = torch.empty(new long[] {1, tokens, hidden}, Tensors.options(ScalarType.Float), null);
            h.normal_(0.0, 1.0, new GeneratorOptional());
            h.requires_grad_(true);
            Tensor labels = torch.randint(vocab, new long[] {1, tokens}, Tensors.options(ScalarType.Long));
            long before = settledRss();
            ProcessMemory.resetPeakRss();
            double sum;
            if (chunkElements > 0) {
                try (Tensor targets = CausalLmLoss.nextTokenTargets(labels)) { // the pairs CausalLmLoss.sum makes
                    sum = ChunkedCrossEntropy.lossSum(h, w, targets, ModelParallelism.NONE, tokens, true,
                            chunkElements);
                }
            } else {
                try (Tensor logits = torch.linear(h, w);
                     Tensor loss = CausalLmLoss.sum(logits, labels);
                     Tensor scaled = loss.div(Tensors.scalar(tokens));
                     TensorVector outs = new TensorVector(scaled);
                     TensorVector grads = new TensorVector();
                     TensorVector inputs = new TensorVector()) {
                    sum = loss.item_double();
                    torch.backward(outs, grads, new BoolOptional(), false, inputs);
                }
            }
            long peak = ProcessMemory.peakRssBytes() - before;
            losses[slot] = sum / (tokens - 1);
            return peak;
        }
    }

    private static long median(List<Long> v) {
        List<Long> s = new ArrayList<>(v);
        Collections.sort(s);
        return s.get(s.size() / 2);
    }
}
