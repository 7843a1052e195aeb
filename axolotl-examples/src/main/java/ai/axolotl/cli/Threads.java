package ai.axolotl.cli;

/** Default libtorch thread count for the CLI. */
final class Threads {
    private Threads() {}

    /**
     * Half the available cores, at least one. On the 2-vCPU machines this project is built on, two intra-op
     * threads made a llama-tiny step about 3.5x slower than one (the second thread contends with the JVM and
     * the other hyper-thread), so the CLI does not take every core by default.
     */
    static int defaultCount() {
        return Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
    }
}
