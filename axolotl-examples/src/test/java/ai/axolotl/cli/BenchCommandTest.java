package ai.axolotl.cli;

import ai.axolotl.distributed.launch.RankAllocator;
import ai.axolotl.runtime.ProcessMemory;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code axolotl bench} runs every strategy it offers, on a small shape, and its JSON line carries the fields the
 * README and scripts/bench.sh read; {@code --memory} reports every strategy's per-rank peaks.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class BenchCommandTest {
    private static final String[] SMALL = {"--shape", "llama-tiny", "--steps", "5", "--seq-len", "32",
        "--micro-batch", "1"};

    private static JsonNode bench(String... args) throws Exception {
        String[] all = new String[1 + SMALL.length + args.length];
        all[0] = "bench";
        System.arraycopy(SMALL, 0, all, 1, SMALL.length);
        System.arraycopy(args, 0, all, 1 + SMALL.length, args.length);
        CliTest.Run r = CliTest.run(all);
        assertThat(r.exit()).as(r.err()).isZero();
        List<String> lines = r.out().lines().filter(l -> l.startsWith("{")).toList();
        assertThat(lines).as(r.out()).hasSize(1);
        return new ObjectMapper().readTree(lines.get(0));
    }

    private static void assertTimed(JsonNode j, String strategy, int world) {
        assertThat(j.get("strategy").asText()).isEqualTo(strategy);
        assertThat(j.get("world").asInt()).isEqualTo(world);
        assertThat(j.get("step_ms").get("median").asDouble()).isPositive();
        assertThat(j.get("tokens_per_s_per_rank").asLong()).isPositive();
        assertThat(j.get("model_state_bytes").asLong()).isPositive();
        assertThat(j.get("losses").size()).isEqualTo(5);
        assertThat(j.get("peak_rss_mb").asLong()).isPositive();
    }

    @Test
    void everyStrategyReportsItsFields() throws Exception {
        JsonNode single = bench();
        assertTimed(single, "single", 1);
        assertThat(single.get("trainer_vs_bare").asDouble()).isPositive();
        JsonNode ddp = bench("--strategy", "ddp", "--world", "2");
        assertTimed(ddp, "ddp", 2);
        assertThat(ddp.get("scaling_efficiency").asDouble()).isPositive();
        assertThat(ddp.get("independent_ranks_tokens_per_s").asLong()).isPositive();
        for (String s : List.of("zero1", "zero2", "zero3", "fsdp2")) {
            JsonNode j = bench("--strategy", s, "--world", "2");
            assertTimed(j, s, 2);
            assertThat(j.get("step_time_vs_ddp").asDouble()).as(s).isPositive();
            assertThat(j.get("rounds").size()).as(s + ": alternated rounds").isEqualTo(2);
            assertThat(j.get("order").asText()).startsWith("ABAB");
            assertThat(j.get("exposed_comm_ms").get("median").asDouble()).as(s).isNotNegative();
        }
    }

    @Test
    void memoryReportsEveryStrategysPeaksPerRank() throws Exception {
        JsonNode j = bench("--memory", "--world", "2", "--accumulation", "1,2");
        // the rank JVMs run with the allocator the launcher chose (auto: jemalloc where installed), read by each
        // rank from the libraries mapped into it
        RankAllocator chosen = RankAllocator.resolve("auto", System.getenv(), RankAllocator.SEARCH_PATH);
        String expected = chosen.environment().isEmpty() ? ProcessMemory.nativeAllocator().split(" ")[0] : "jemalloc";
        assertThat(j.get("allocator").asText()).isEqualTo(chosen.describe());
        assertThat(j.get("strategies").fieldNames()).toIterable()
                .containsExactly("ddp", "zero1", "zero2", "zero3", "fsdp2");
        for (String s : List.of("ddp", "zero1", "zero2", "zero3", "fsdp2")) {
            JsonNode byAcc = j.get("strategies").get(s);
            assertThat(byAcc.get("formula_model_state_bytes").asLong()).isPositive();
            assertThat(byAcc.get("rss_ratio_last_vs_first_accumulation").asDouble()).isPositive();
            for (String acc : List.of("acc1", "acc2")) {
                JsonNode ranks = byAcc.get(acc).get("ranks");
                assertThat(ranks.size()).isEqualTo(2);
                for (JsonNode r : ranks) {
                    assertThat(r.get("peak_rss_bytes").asLong()).as(s + " " + acc).isPositive();
                    assertThat(r.get("allocator").asText()).as(s + " " + acc).startsWith(expected);
                    if (!s.equals("ddp")) {
                        assertThat(r.get("peak_model_state_bytes").asLong()).as(s + " " + acc).isPositive();
                    }
                }
            }
        }
    }
}
