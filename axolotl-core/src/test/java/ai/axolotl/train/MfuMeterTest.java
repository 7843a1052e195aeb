package ai.axolotl.train;

import ai.axolotl.testing.Console;
import ai.axolotl.runtime.Natives;
import ai.axolotl.testing.TinyRun;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * MFU can never exceed 1: a peak that the run beats is measured again, and when it still does, {@code mfu} is left
 * out with one line saying why; the peak counts the intra-op threads libtorch reports; the achieved rate is
 * written next to it.
 */
class MfuMeterTest {
    /** A rate source that answers {@code first} and then {@code again} on a re-measurement, counting both. */
    private static final class FakeRate implements MfuMeter.SingleThreadRate {
        final double first;
        final double again;
        final List<Boolean> calls = new ArrayList<>();

        FakeRate(double first, double again) {
            this.first = first;
            this.again = again;
        }

        @Override
        public double rate(ScalarType compute, boolean remeasure) {
            calls.add(remeasure);
            return remeasure ? again : first;
        }
    }

    @Test
    void thePeakIsTheSingleThreadRateTimesTheThreadsReadAtEachWindow() {
        int[] threads = {2};
        MfuMeter m = MfuMeter.cpu(1e6, ScalarType.Float, new FakeRate(10e9, 10e9), () -> threads[0]);
        assertThat(m.peak().flopsPerSecond()).isEqualTo(20e9);
        assertThat(m.peak().source()).contains("x 2 intra-op thread(s)");
        Map<String, Object> f = m.fields(5_000); // 5e9 FLOP/s against 20e9
        assertThat((double) f.get("flops_per_s")).isEqualTo(5e9);
        assertThat((double) f.get("mfu")).isEqualTo(0.25);
        threads[0] = 1;
        assertThat((double) m.fields(5_000).get("mfu")).as("the threads are read again").isEqualTo(0.5);
    }

    @Test
    void aRunFasterThanThePeakTimesTheGemmsAgainAndKeepsTheBest() {
        FakeRate rate = new FakeRate(1e9, 40e9); // the first timing on a busy machine
        MfuMeter m = MfuMeter.cpu(1e6, ScalarType.Float, rate, () -> 1);
        Map<String, Object> f = m.fields(10_000); // 10 GFLOP/s > 1 GFLOP/s
        assertThat(rate.calls).containsExactly(false, true);
        assertThat((double) f.get("mfu")).isEqualTo(0.25);
        m.fields(10_000);
        assertThat(rate.calls).as("a peak that holds is not measured again").hasSize(2);
    }

    @Test
    void aPeakTheRunStillBeatsIsNotTrustedAndMfuIsLeftOutWithOneLine() {
        FakeRate rate = new FakeRate(1e9, 2e9);
        MfuMeter m = MfuMeter.cpu(1e6, ScalarType.Float, rate, () -> 1);
        String log = console(() -> {
            for (int i = 0; i < 3; i++) {
                Map<String, Object> f = m.fields(10_000);
                assertThat(f).doesNotContainKey("mfu").containsKey("flops_per_s");
            }
        });
        assertThat(Pattern.compile("mfu left out").matcher(log).results().count()).as(log).isEqualTo(1);
        assertThat(log).contains("10.00 GFLOP/s").contains("2.00 GFLOP/s");
    }

    @Test
    void aGpuAboveItsTableEntryIsLeftOutToo() {
        MfuMeter m = MfuMeter.gpu(1e6, new ai.axolotl.runtime.PeakFlops(1e9, "table"));
        assertThat(m.fields(100).get("mfu")).isEqualTo(0.1);
        assertThat(m.fields(10_000)).doesNotContainKey("mfu");
        assertThat(MfuMeter.gpu(1e6, null).fields(10_000)).containsOnlyKeys("flops_per_s");
    }

    /** A run whose CPU peak source is deliberately low writes no mfu above 1, in metrics.jsonl or the log. */
    @Test
    void aRunAgainstADeliberatelyLowPeakWritesNoMfuAboveOne(@TempDir Path dir) throws Exception {
        TinyRun.write(dir, 100);
        for (FakeRate rate : new FakeRate[] {new FakeRate(1e3, 1e3), new FakeRate(1e3, 2e10)}) {
            Path out = Files.createDirectories(dir.resolve("out-" + rate.again));
            String log = console(() -> {
                try (Trainer t = new Trainer(TrainerTest.config(dir, "max_steps=4", "output_dir=" + out),
                        new SingleProcessStrategy(), List.of(), 2)) {
                    t.cpuPeakRate(rate);
                    t.fit();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            List<String> lines = Files.readAllLines(out.resolve(MetricsLog.FILE));
            int steps = 0;
            for (String l : lines) {
                JsonNode j = new ObjectMapper().readTree(l);
                if (!j.has("loss")) {
                    continue;
                }
                steps++;
                assertThat(j.get("flops_per_s").asDouble()).as(l).isPositive();
                if (rate.again < 1e6) {
                    assertThat(j.has("mfu")).as("no peak to trust: " + l).isFalse();
                } else {
                    assertThat(j.get("mfu").asDouble()).as(l).isBetween(0.0, 1.0);
                }
            }
            assertThat(steps).isEqualTo(4);
            Matcher mfu = Pattern.compile("mfu (\\d+\\.\\d+(E-?\\d+)?)").matcher(log);
            while (mfu.find()) {
                assertThat(Double.parseDouble(mfu.group(1))).as(log).isLessThanOrEqualTo(1.0);
            }
            assertThat(log).contains("flops_per_s");
            assertThat(log).as("the peak counts the run's 2 intra-op threads").contains("x 2 intra-op thread(s)");
            if (rate.again < 1e6) {
                assertThat(log).contains("mfu left out");
            }
        }
        Natives.setThreads(1);
        assertThat(torch.get_num_threads()).isEqualTo(1);
    }

    @Test
    void theMeasuredGemmRateIsTheBestTimingAndAReMeasurementNeverLowersIt() {
        double first = MfuMeter.SingleThreadRate.GEMM.rate(ScalarType.Float, false);
        double again = MfuMeter.SingleThreadRate.GEMM.rate(ScalarType.Float, true);
        assertThat(again).isGreaterThanOrEqualTo(first);
        assertThat(MfuMeter.SingleThreadRate.GEMM.rate(ScalarType.Float, false)).isCloseTo(again, within(1.0));
    }

    /** What the logger printed while {@code action} ran. */
    private static String console(Runnable action) {
        return Console.capture(action);
    }
}
