package ai.axolotl.bench;

import ai.axolotl.cli.AxolotlCli;
import ai.axolotl.distributed.launch.LocalLauncher;
import ai.axolotl.distributed.launch.NodeTopology;
import ai.axolotl.distributed.launch.RankAllocator;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.train.MemoryReport;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Runs {@code axolotl train} with every rank its own JVM (the local launcher) and reads each rank's memory report. */
final class RankJvms {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RankJvms() {}

    /**
     * @param yml the run's config
     * @param reports where each rank writes {@code rank-<r>.json} ({@link MemoryReport})
     * @return the reports, in rank order
     * @throws IllegalStateException naming the config when a rank fails
     */
    static List<Map<String, Object>> train(Path yml, int world, int threads, RankAllocator allocator, Path reports)
            throws IOException, InterruptedException {
        NodeTopology topology = new NodeTopology(1, 0, world, "127.0.0.1", ThreadLauncher.freePort());
        List<String> args = List.of("train", yml.toString(), "--threads", Integer.toString(threads));
        Map<String, String> env = new HashMap<>(allocator.environment());
        env.put(MemoryReport.ENV, reports.toString());
        int status = new LocalLauncher(topology, args, new PrintStream(OutputStream.nullOutputStream()), env)
                .run(AxolotlCli.class.getName());
        if (status != 0) {
            throw new IllegalStateException(yml.getFileName() + ": a rank exited with status " + status + " (run "
                    + yml + " with axolotl train --launcher local to see why)");
        }
        List<Map<String, Object>> ranks = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            @SuppressWarnings("unchecked")
            Map<String, Object> m = JSON.readValue(reports.resolve("rank-" + r + ".json").toFile(), Map.class);
            ranks.add(m);
        }
        return ranks;
    }
}
