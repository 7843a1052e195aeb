package ai.axolotl.bench;

import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.ProcessMemory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The chunked loss never holds the whole logits: measured from the process's peak RSS (the benchmark's method) on
 * 256 MiB of fp32 logits, it peaks far below the plain loss, which holds the logits, their log-softmax and their
 * gradient; the two losses agree.
 */
class LossMemoryBenchmarkTest {
    @Test
    void theChunkedLossPeaksFarBelowThePlainOne() {
        Natives.setThreads(1);
        Assumptions.assumeTrue(ProcessMemory.resetPeakRss(), "the peak RSS cannot be reset here (not Linux)");
        int vocab = 32768;
        int tokens = 2048;
        long logits = 4L * vocab * tokens;
        double[] losses = new double[2];
        long plain = Long.MAX_VALUE;
        long chunked = Long.MAX_VALUE;
        for (int round = 0; round < 3; round++) { // the lowest of three, against noise from other allocations
            plain = Math.min(plain, LossMemoryBenchmark.peakBytes(vocab, tokens, 64, 0, losses, 0));
            chunked = Math.min(chunked, LossMemoryBenchmark.peakBytes(vocab, tokens, 64, 1L << 22, losses, 1));
        }
        assertThat(plain).as("the plain loss holds the logits").isGreaterThan(logits);
        assertThat(chunked).as("chunked peak " + chunked + " vs plain " + plain).isLessThan(logits / 2);
        assertThat(losses[1]).isCloseTo(losses[0], within(1e-5));
    }
}
