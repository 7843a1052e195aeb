package ai.axolotl.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Step durations with the summary the benchmarks report: median, min and max after the warm-up steps. */
final class StepTimes {
    private final List<Double> millis = new ArrayList<>();
    private final int warmup;

    StepTimes(int warmup) {
        this.warmup = warmup;
    }

    void add(double ms) {
        millis.add(ms);
    }

    /** The step times of several runs after each one's warm-up, pooled (alternated runs of one strategy). */
    static StepTimes pooled(List<StepTimes> runs) {
        StepTimes all = new StepTimes(0);
        runs.forEach(r -> r.measured().forEach(all::add));
        return all;
    }

    List<Double> measured() {
        return millis.size() > warmup ? millis.subList(warmup, millis.size()) : millis;
    }

    double median() {
        List<Double> s = new ArrayList<>(measured());
        s.sort(Double::compare);
        if (s.isEmpty()) {
            return Double.NaN;
        }
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    Map<String, Object> summary() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("median", round(median()));
        m.put("min", round(measured().stream().mapToDouble(d -> d).min().orElse(Double.NaN)));
        m.put("max", round(measured().stream().mapToDouble(d -> d).max().orElse(Double.NaN)));
        return m;
    }

    static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
