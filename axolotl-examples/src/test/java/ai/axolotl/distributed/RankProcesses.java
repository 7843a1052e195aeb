package ai.axolotl.distributed;

import ai.axolotl.cli.AxolotlCli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Starts the CLI as separate JVMs (ranks or launchers) with this test's classpath, output into files. */
final class RankProcesses {
    private RankProcesses() {}

    static Process start(List<String> cliArgs, Map<String, String> env, Path log, List<String> prefix)
            throws IOException {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g", "-cp",
                System.getProperty("java.class.path"), AxolotlCli.class.getName()));
        cmd.addAll(cliArgs);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return pb.start();
    }

    /** The example config's training arguments for a short run writing under {@code dir}. */
    static List<String> shortRun(Path dir, int steps, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "axolotl-examples/configs/llama-tiny.yml",
                "--max-steps", Integer.toString(steps), "--sequence_len", "64", "--micro_batch_size", "2",
                "--eval-steps", "100000", "--save-steps", "100000", "--logging-steps", "1", "--threads", "1",
                "--output-dir", dir.resolve("out").toString(),
                "--dataset-prepared-path", dir.resolve("prep").toString()));
        a.addAll(List.of(more));
        return a;
    }
}
