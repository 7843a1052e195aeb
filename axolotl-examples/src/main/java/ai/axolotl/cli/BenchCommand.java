package ai.axolotl.cli;

import ai.axolotl.bench.TrainerBenchmark;
import ai.axolotl.train.SingleProcessStrategy;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code axolotl bench --shape llama-tiny|llama-small --steps N}: one JSON line of measurements. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time training steps of a reference shape on random tokens; prints one JSON line.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--shape", defaultValue = "llama-tiny", description = "llama-tiny or llama-small")
    String shape;

    @Option(names = "--steps", defaultValue = "10", description = "optimizer steps (the first 3 are not timed)")
    int steps;

    @Option(names = "--strategy", defaultValue = "single", description = "single (one process)")
    String strategy;

    @Option(names = "--world", defaultValue = "1", description = "ranks")
    int world;

    @Option(names = "--threads", defaultValue = "1", description = "intra-op threads per rank")
    int threads;

    @Option(names = "--seq-len", defaultValue = "0", description = "tokens per row (default: the shape's)")
    int seqLen;

    @Option(names = "--micro-batch", defaultValue = "0", description = "rows per micro-batch (default: the shape's)")
    int microBatch;

    @Override
    public Integer call() throws Exception {
        if (steps <= 3) {
            throw new IllegalArgumentException("--steps must be more than 3 (the first 3 steps are not timed)");
        }
        if (!strategy.equals("single") || world != 1) {
            throw new IllegalArgumentException("--strategy " + strategy + " --world " + world
                    + ": only the single-process strategy is available in this build");
        }
        System.out.println(new TrainerBenchmark(shape, steps, threads, seqLen, microBatch, "single",
                SingleProcessStrategy::new, 1).run());
        return 0;
    }
}
