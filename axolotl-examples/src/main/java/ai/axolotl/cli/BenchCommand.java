package ai.axolotl.cli;

import ai.axolotl.bench.AdapterBenchmark;
import ai.axolotl.bench.ContextParallelBenchmark;
import ai.axolotl.bench.LossMemoryBenchmark;
import ai.axolotl.bench.TokenizerBenchmark;
import ai.axolotl.bench.MemoryBenchmark;
import ai.axolotl.bench.TrainerBenchmark;
import ai.axolotl.distributed.launch.RankAllocator;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.train.SingleProcessStrategy;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code axolotl bench --shape llama-tiny|llama-small --steps N}: one JSON line of measurements. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time training steps of a reference shape on random tokens; prints one JSON line.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--shape", defaultValue = "llama-tiny", description = "llama-tiny or llama-small")
    String shape;

    @Option(names = "--steps", defaultValue = "13", description = "optimizer steps per run (the first 3 are not "
            + "timed; the default leaves 10 timed)")
    int steps;

    @Option(names = "--strategy", defaultValue = "single", description = "single (one process), ddp (data "
            + "parallel; ranks as threads of this JVM over Gloo, also timed at world 1 for the scaling efficiency), "
            + "zero1|zero2|zero3|fsdp2 (timed against ddp at the same world), tp (tensor parallel over the whole "
            + "world), ddp+tp|fsdp2+tp|zero1+tp|zero2+tp|zero3+tp (tensor parallel 2 over that data-parallel "
            + "layer across world/2), all timed against ddp at the same world with their activation collectives per "
            + "step next to the layout's count")
    String strategy;

    @Option(names = "--world", defaultValue = "1", description = "ranks")
    int world;

    @Option(names = "--threads", defaultValue = "1", description = "intra-op threads per rank")
    int threads;

    @Option(names = "--seq-len", defaultValue = "0", description = "tokens per row (default: the shape's)")
    int seqLen;

    @Option(names = "--micro-batch", defaultValue = "0", description = "rows per micro-batch (default: the shape's)")
    int microBatch;

    @Option(names = "--memory", description = "measure memory instead of time: ddp, zero1-3 and fsdp2 at each "
            + "--accumulation, every rank its own JVM; reports each rank's peak RSS and the peaks of model state "
            + "and gathered parameters read from the tensors it holds, next to the ZeRO formula")
    boolean memory;

    @Option(names = "--accumulation", split = ",", defaultValue = "1,8",
            description = "gradient accumulation steps compared by --memory (default 1,8)")
    List<Integer> accumulation;

    @Option(names = "--allocator", paramLabel = "auto|jemalloc|glibc", description = "C allocator of the rank JVMs "
            + "--memory starts (default auto: jemalloc when installed); the time benchmark runs in this JVM and "
            + "reports the allocator it has")
    String allocator;

    @Option(names = "--adapters", description = "measure a full fine-tune, LoRA (r 16, every linear projection) and "
            + "QLoRA of --shape in one process and under FSDP2 at world 2, each rank a JVM: peak RSS, trainable model "
            + "state and frozen base held, median step time (--rounds alternated rounds, medians)")
    boolean adapters;

    @Option(names = "--context-parallel", description = "measure one process against context parallel 2 (each "
            + "rank a JVM) at long sequences (--seq-lens, micro batch 1): peak RSS and its activation part next to "
            + "the prediction, step time, tokens/s per rank, key/value collectives counted")
    boolean contextParallel;

    @Option(names = "--seq-lens", split = ",", description = "--context-parallel: tokens per row (default 4096,8192)")
    List<Integer> seqLens;

    @Option(names = "--loss", description = "measure the memory of the output projection and loss of one "
            + "micro-batch, whole logits against chunked (cut_cross_entropy); --vocab, --tokens, --hidden")
    boolean loss;

    @Option(names = "--vocab", defaultValue = "151936", description = "--loss: vocabulary size (default Qwen's)")
    int vocab;

    @Option(names = "--tokens", defaultValue = "4096", description = "--loss: tokens of the micro-batch")
    int tokens;

    @Option(names = "--hidden", defaultValue = "1024", description = "--loss: hidden size (default Qwen3-0.6B's)")
    int hidden;

    @Option(names = "--rounds", defaultValue = "3", description = "--loss: alternated rounds (medians reported)")
    int rounds;

    @Option(names = "--tokenizer", paramLabel = "DIR", description = "measure the tokens/s of the HF tokenizer in DIR "
            + "encoding --text (one thread; medians of --rounds)")
    Path tokenizer;

    @Option(names = "--text", paramLabel = "FILE", description = "--tokenizer: the UTF-8 text encoded")
    Path text;

    @Override
    public Integer call() throws Exception {
        if (tokenizer != null) {
            if (text == null) {
                throw new IllegalArgumentException("--tokenizer needs --text FILE");
            }
            System.out.println(new TokenizerBenchmark(tokenizer, text, Math.max(1, rounds)).run());
            return 0;
        }
        if (loss) {
            System.out.println(new LossMemoryBenchmark(vocab, tokens, hidden, rounds).run());
            return 0;
        }
        if (contextParallel) {
            List<Integer> lengths = seqLens != null ? seqLens : List.of(4096, 8192);
            RankAllocator ranksAllocator = RankAllocator.resolve(allocator, System.getenv(), RankAllocator.SEARCH_PATH);
            System.out.println(new ContextParallelBenchmark(shape, lengths, steps, Math.max(2, threads),
                    Math.max(1, rounds), ranksAllocator).run(System.err));
            return 0;
        }
        if (adapters) {
            int mb = microBatch > 0 ? microBatch : 4;
            int len = seqLen > 0 ? seqLen : 128;
            RankAllocator ranksAllocator = RankAllocator.resolve(allocator, System.getenv(), RankAllocator.SEARCH_PATH);
            System.out.println(new AdapterBenchmark(shape, steps, threads, len, mb, Math.max(1, rounds),
                    ranksAllocator).run(System.err));
            return 0;
        }
        if (allocator != null && !memory) {
            throw new IllegalArgumentException("--allocator applies to --memory, whose ranks are JVMs it starts; the "
                    + "time benchmark runs in this JVM (" + ProcessMemory.nativeAllocator() + "): preload jemalloc "
                    + "on its command line instead");
        }
        if (memory) {
            if (world < 2) {
                throw new IllegalArgumentException("--memory compares sharded strategies: give --world 2 or more");
            }
            int mb = microBatch > 0 ? microBatch : 1;
            int len = seqLen > 0 ? seqLen : 128;
            RankAllocator ranksAllocator = RankAllocator.resolve(allocator, System.getenv(), RankAllocator.SEARCH_PATH);
            System.out.println(new MemoryBenchmark(shape, steps, world, threads, len, mb, accumulation,
                    ranksAllocator).run());
            return 0;
        }
        if (steps <= 3) {
            throw new IllegalArgumentException("--steps must be more than 3 (the first 3 steps are not timed)");
        }
        if (!List.of("single", "ddp", "zero1", "zero2", "zero3", "fsdp2", "tp", "ddp+tp", "fsdp2+tp",
                "zero1+tp", "zero2+tp", "zero3+tp").contains(strategy)) {
            throw new IllegalArgumentException("--strategy " + strategy + ": available strategies are single, ddp, "
                    + "zero1, zero2, zero3, fsdp2, tp, ddp+tp, fsdp2+tp and zero1+tp .. zero3+tp in this build");
        }
        if (strategy.equals("tp") && world < 2) {
            throw new IllegalArgumentException("--strategy tp splits the model over the world: give --world 2 or "
                    + "more");
        }
        if (strategy.endsWith("+tp") && (world < 4 || world % 2 != 0)) {
            throw new IllegalArgumentException("--strategy " + strategy + " is tensor parallel 2 x "
                    + strategy.substring(0, strategy.length() - 3) + " over world/2: give an even --world of 4 or "
                    + "more");
        }
        if (strategy.equals("single") && world != 1) {
            throw new IllegalArgumentException("--strategy single runs one process; use --strategy ddp --world "
                    + world);
        }
        if (world < 1) {
            throw new IllegalArgumentException("--world must be at least 1");
        }
        System.out.println(new TrainerBenchmark(shape, steps, threads, seqLen, microBatch, strategy,
                SingleProcessStrategy::new, world, ThreadLauncher::new).run());
        return 0;
    }
}
