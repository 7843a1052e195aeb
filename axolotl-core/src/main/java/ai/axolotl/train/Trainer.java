package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.ChunkedCrossEntropy;
import ai.axolotl.config.AdapterSettings;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.model.HfModelWriter;
import ai.axolotl.model.adapter.AdaptedModel;
import ai.axolotl.model.adapter.Adapters;
import ai.axolotl.model.adapter.PeftFiles;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.config.LossScaleSettings;
import ai.axolotl.hub.HubResolver;
import ai.axolotl.data.DataException;
import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.data.TokenizedDataset;
import ai.axolotl.data.Tokenizer;
import ai.axolotl.data.Tokenizers;
import ai.axolotl.data.TrainingData;
import ai.axolotl.model.DType;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.TrainingFlops;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.DeviceMemory;
import ai.axolotl.runtime.LibraryVersion;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.PeakFlops;
import ai.axolotl.runtime.ProcessMemory;
import ai.axolotl.runtime.Provenance;
import ai.axolotl.runtime.Tf32;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Trains a model as an {@link AxolotlConfig} describes: loads the model and data, then runs optimizer steps
 * (gradient accumulation over micro-batches, global-norm clipping, the learning-rate schedule), logs metrics,
 * evaluates, writes checkpoints, and exports the model as Hugging Face safetensors at the end. How each step is
 * spread over processes is the {@link ShardingStrategy}'s business.
 *
 * <p>The loss of a step is the summed cross entropy of every micro-batch (and every rank) divided by the step's
 * label-token count, so gradient accumulation and data parallelism over the same global batch give the same
 * number.
 */
public final class Trainer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);
    /** The file beside an exported model recording what trained it. */
    public static final String PROVENANCE_FILE = "training_provenance.json";
    private final AxolotlConfig config;
    private final ShardingStrategy strategy;
    private final List<TrainingListener> listeners;
    private final int threads;
    private volatile boolean stopRequested;
    private volatile boolean started;
    private final CountDownLatch closed = new CountDownLatch(1);
    private CausalLm model;
    private Tokenizer tokenizer;
    private TokenizedDataset dataset;
    private TrainingData data;
    private UnitRunner runner;
    private LossScaler scaler;
    private MfuMeter mfu;
    private MfuMeter.SingleThreadRate cpuPeakRate = MfuMeter.SingleThreadRate.GEMM;
    private Device device;
    /** The main rank's claim on output_dir for the duration of fit(). */
    private OutputDirLock lock;

    /**
     * @param config the validated configuration
     * @param strategy how steps are spread over processes (owned and closed by the trainer)
     * @param listeners callbacks
     * @param threads libtorch intra-op threads (0: leave libtorch's default)
     */
    public Trainer(AxolotlConfig config, ShardingStrategy strategy, List<TrainingListener> listeners, int threads) {
        this.config = config;
        this.strategy = strategy;
        this.listeners = List.copyOf(listeners);
        this.threads = threads;
    }

    /** The configuration. */
    public AxolotlConfig config() {
        return config;
    }

    /**
     * Asks the run to stop after the current step (a checkpoint is written if saving is on). With several ranks,
     * a request on any rank stops them all after the same step: the ranks agree on it at the end of every step.
     */
    public void stop() {
        stopRequested = true;
    }

    /**
     * {@link #stop()}, then waits until this trainer has been closed after its run (what a shutdown hook needs:
     * the JVM must not exit while the step finishes and the checkpoint is written).
     *
     * @return true when the run ended and the trainer was closed within {@code timeout}, or no run had started
     */
    public boolean stopAndWait(Duration timeout) {
        stop();
        if (!started) {
            return true;
        }
        try {
            return closed.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * The MFU meter of this rank: on a CUDA device against the vendor table's entry for the GPU's name (none, and
     * said once, for a GPU the table lacks); on the CPU against the measured single-thread GEMM rate times the
     * intra-op threads libtorch runs with.
     */
    private MfuMeter mfuMeter(ScalarType compute, double flopsPerToken) {
        if (!device.isCuda()) {
            return MfuMeter.cpu(flopsPerToken, compute, cpuPeakRate, torch::get_num_threads);
        }
        String name = Natives.cudaDeviceName(device.index());
        PeakFlops gpu = PeakFlops.forGpu(name, compute).orElse(null);
        if (gpu == null) {
            LOG.info("mfu not reported: {} is not in the peak-FLOP table (H100, H200, A100)", name);
        }
        return MfuMeter.gpu(flopsPerToken, gpu);
    }

    /** Replaces where the CPU peak's single-thread rate comes from (tests: a deliberately wrong peak). */
    void cpuPeakRate(MfuMeter.SingleThreadRate rate) {
        this.cpuPeakRate = rate;
    }

    /**
     * Checks, before anything loads, that output_dir is a directory this process can write (created when absent):
     * a file in its place or a read-only location is one line now instead of an error after the model and the data
     * have loaded.
     */
    static void requireWritableOutputDir(Path dir) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new TrainingException("output_dir: " + dir + " is a file, not a directory");
        }
        try {
            Files.createDirectories(dir);
            Path probe = Files.createTempFile(dir, ".write-probe-", "");
            Files.delete(probe);
        } catch (IOException e) {
            throw new TrainingException("output_dir: " + dir + " is not writable (" + e.getClass().getSimpleName()
                    + ": " + e.getMessage() + ")");
        }
    }

    /** Logits per chunk of the chunked loss, 0 for the plain loss over the whole logits. */
    static long lossChunkElements(AxolotlConfig config) {
        return config.model().chunkedLoss() ? ChunkedCrossEntropy.chunkElements() : 0;
    }

    /** Element type of activations for this run. */
    ScalarType computeType() {
        return computeType(config);
    }

    /** Element type of activations a config asks for: bf16, else fp16, else fp32 (bf16 wins when both are on). */
    static ScalarType computeType(AxolotlConfig config) {
        if (config.precision().bf16Enabled()) {
            return ScalarType.BFloat16;
        }
        return config.precision().fp16() ? ScalarType.Half : ScalarType.Float;
    }

    /**
     * The fields a metrics line adds to the basic ones: the achieved FLOP/s and MFU of the window, the fp16 scaler's state, and on a CUDA
     * device the caching allocator's bytes (rank 0's: this rank writes metrics.jsonl).
     */
    private Map<String, Object> extraFields(double tokensPerSecond) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.putAll(mfu.fields(tokensPerSecond));
        DeviceMemory.of(device).ifPresent(mem -> m.putAll(mem.fields()));
        if (scaler != null) {
            m.put("loss_scale", scaler.scale());
            m.put("skipped_steps", scaler.skippedSteps());
        }
        return m;
    }

    /** The dtype the exported model is written in: the compute precision's. */
    private DType exportType() {
        if (config.precision().bf16Enabled()) {
            return DType.BF16;
        }
        return config.precision().fp16() ? DType.F16 : DType.F32;
    }

    private void prepare() {
        Natives.setThreads(threads);
        List<String> unresolved = ConfigLoader.unresolvedReferences(config);
        if (!unresolved.isEmpty()) {
            throw new TrainingException(unresolved.get(0));
        }
        requireWritableOutputDir(Path.of(config.checkpoint().outputDir()));
        if (strategy.isMain()) {
            lock = OutputDirLock.acquire(Path.of(config.checkpoint().outputDir()));
        }
        if (config.checkpoint().resumeFromCheckpoint() == null) {
            Path outputDir = Path.of(config.checkpoint().outputDir());
            try {
                List<Path> deleted = Checkpoints.claimForFreshRun(outputDir, config.checkpoint().overwriteOutputDir(),
                        strategy.isMain());
                if (!deleted.isEmpty() && strategy.isMain()) {
                    LOG.warn("overwrite_output_dir: deleted the checkpoints another run left in {}: {}", outputDir,
                            deleted.stream().map(p -> p.getFileName().toString()).toList());
                }
            } catch (IOException e) {
                throw new TrainingException("output_dir: cannot delete the old checkpoints in " + outputDir + ": "
                        + e.getMessage(), e);
            }
        }
        // Hub ids become local snapshot directories (from the Hugging Face cache, else fetched); `config` keeps
        // the user's references for the preflight comparison and provenance, `local` is what is loaded
        AxolotlConfig local = HubResolver.resolveFromEnvironment(config,
                strategy.isMain() ? LOG::info : LOG::debug);
        device = strategy.device(); // after the input checks: bad input stays one line
        if (strategy instanceof SingleProcessStrategy) { // process groups log every rank's and set it current
            device.log(LOG, "rank 0");
            Natives.useDevice(device);
        }
        Tf32.Outcome tf32 = Tf32.apply(config.precision().tf32(), device);
        if (tf32 != null && tf32.applied()) {
            LOG.info(tf32.message());
        } else if (tf32 != null && strategy.isMain()) {
            LOG.warn(tf32.message());
        }
        AdapterSettings adapter = local.model().adapter();
        if (strategy.rankZeroLoadsWeights() && strategy.rank() != 0 && !adapter.freezesBase()) {
            model = ModelLoader.placeholder(local);
            LOG.info("rank {} does not read base_model: it receives its shards from rank 0 "
                    + "(cpu_ram_efficient_loading)", strategy.rank());
        } else {
            model = strategy.loadModel(local);
        }
        int maxPositions = model.config().maxPositionEmbeddings();
        if (config.data().sequenceLen() > maxPositions && strategy.isMain()) {
            LOG.warn("sequence_len ({}) is longer than base_model's max_position_embeddings ({}): positions past {} "
                    + "were never trained (Axolotl raises model.config.max_position_embeddings to sequence_len; the "
                    + "exported config.json keeps {})", config.data().sequenceLen(), maxPositions, maxPositions,
                    maxPositions);
        }
        tokenizer = Tokenizers.forConfig(local);
        if (tokenizer.vocabSize() > model.config().vocabSize()) {
            throw new TrainingException("the tokenizer has " + tokenizer.vocabSize() + " tokens but base_model's "
                    + "vocab_size is " + model.config().vocabSize());
        }
        dataset = TokenizedDataset.load(local, tokenizer, model.config().vocabSize());
        logRun("dataset: {} examples, {} tokens ({} trained on: the loss covers these only), fingerprint {}",
                dataset.examples().size(), dataset.tokenCount(), dataset.trainedTokenCount(), dataset.fingerprint());
        strategy.preflight(preflightFacts());
        model = strategy.parallelize(model).to(device);
        if (adapter.freezesBase()) {
            long frozenCount = model.parameterCount();
            try {
                model = Adapters.apply(model, adapter, config.training().seed(),
                        strategy.isMain() ? LOG::warn : LOG::debug);
            } catch (IllegalArgumentException e) {
                throw new TrainingException(e.getMessage(), e);
            }
            logRun("{}: {} trainable parameters beside a base of {} ({}%)", adapter.lora()
                            ? "adapter: " + adapter.adapter() + " (r " + ((AdaptedModel) model).settings().r() + ", "
                            + ((AdaptedModel) model).targets().size() + " projections)" : "unfrozen_parameters",
                    model.parameterCount(), frozenCount,
                    String.format("%.3f", 100.0 * model.parameterCount() / frozenCount));
        }
        strategy.setup(model, config.optimizer());
        if (MemoryReport.requested()) {
            strategy.enableMemoryProbe();
        }
        data = new TrainingData(config, dataset, strategy.dataParallelSize());
    }

    /** What every rank must agree on before step 1. */
    private Map<String, String> preflightFacts() {
        Map<String, String> f = new LinkedHashMap<>();
        String yaml = ConfigLoader.toYaml(config);
        f.put("config", yaml);
        f.put("library version", LibraryVersion.version() + " (commit "
                + LibraryVersion.commit() + ")");
        f.put("dataset fingerprint", dataset.fingerprint());
        f.put("tokenizer", tokenizer.identity());
        return f;
    }

    /**
     * Unit forwards the training steps ran so far, recomputations under gradient checkpointing included (each
     * micro-batch runs every unit once, plus once more per decoder layer when checkpointing).
     */
    public long unitForwards() {
        return runner == null ? 0 : runner.unitForwards();
    }

    /** The tokenized dataset's fingerprint (after {@link #fit()} started). */
    public String datasetFingerprint() {
        return dataset == null ? null : dataset.fingerprint();
    }

    /** Runs training to the end (or until stopped) and exports the model. */
    public TrainResult fit() {
        try {
            return run();
        } catch (RuntimeException e) {
            // the other ranks stop at their next wait naming this rank, instead of waiting for it in a
            // collective until the timeout; this rank's own error goes up as it is
            strategy.reportFailure(e.getMessage() != null ? e.getMessage() : e.toString());
            throw e;
        } finally {
            if (lock != null) {
                lock.close();
                lock = null;
            }
        }
    }

    private TrainResult run() {
        started = true;
        try {
            prepare();
        } catch (DataException e) {
            throw new TrainingException(e.getMessage(), e);
        }
        ScalarType compute = computeType();
        Path outputDir = Path.of(config.checkpoint().outputDir());
        int total = data.totalSteps();
        LrSchedule schedule = LrSchedule.of(config.scheduler(), total);
        List<Double> losses = new ArrayList<>();
        scaler = compute == ScalarType.Half ? new LossScaler(LossScaleSettings.forConfig(config)) : null;
        if (scaler != null && !Natives.cudaAvailable()) {
            LOG.warn("fp16 on the CPU: half-precision kernels run slower than fp32 on most CPUs; fp16 with loss "
                    + "scaling is meant for GPUs (bf16: true is the faster reduced precision here)");
        }
        int startStep = resume(outputDir, losses);
        // every rank's model, data and checkpoint are loaded before the first collective of training: a rank
        // that failed to load stops all ranks here with its message (issue: rank 0 waited in the first
        // all-reduce for ddp_timeout while rank 1's shard file was missing)
        strategy.agree("loaded");
        if (startStep >= total && strategy.isMain()) {
            LOG.warn("the resumed checkpoint is at step {}, {} the run's {} steps (max_steps / num_epochs): nothing "
                    + "left to train; exporting its model", startStep, startStep > total ? "past" : "at", total);
        }
        int spe = data.stepsPerEpoch();
        int logEvery = config.training().loggingSteps() != null ? config.training().loggingSteps()
                : Math.max(Math.min((int) (0.005 * total), 10), 1);
        Integer evalEvery = evalInterval(spe);
        Integer saveEvery = saveInterval(spe);
        logRun("training {} parameters for {} steps ({} per epoch, global batch {} rows of <= {} tokens), "
                        + "strategy {}, world {}, warmup {}, compute {}", model.parameterCount(), total, spe,
                data.globalBatchRows(), config.data().sequenceLen(), strategy.name(), strategy.worldSize(),
                schedule.warmupSteps(), compute);
        double flopsPerToken = TrainingFlops.perToken(model.config(), config.data().sequenceLen())
                / config.parallel().tensorParallelSize();
        mfu = mfuMeter(compute, flopsPerToken);
        if (mfu.peak() != null) {
            logRun("mfu: {} GFLOP per token on this rank (6 x matmul weights + attention, PaLM's count) against "
                    + "{}", String.format("%.4f", flopsPerToken / 1e9), mfu.peak().source());
        }
        var fsdp = config.parallel().fsdpSettings();
        // QLoRA always recomputes decoder layers: only one layer's dequantized weights are then alive at a time
        boolean checkpointing = config.model().gradientCheckpointing() || (fsdp != null
                && fsdp.activationCheckpointing()) || config.model().adapter().quantizedBase();
        long lossChunk = lossChunkElements(config);
        runner = new UnitRunner(model, strategy.hooks(), checkpointing, lossChunk);
        if (lossChunk > 0) {
            logRun("loss: output projection and cross entropy in chunks of at most {} logits (cut_cross_entropy / "
                    + "liger_fused_linear_cross_entropy): the whole logits are never held", lossChunk);
        }
        int accumulation = config.training().gradientAccumulationSteps();
        int padTo = config.data().padToSequenceLen() ? config.data().sequenceLen() : 0;
        double peak = config.optimizer().learningRate();
        boolean stoppedEarly = false;
        boolean stopping = false;
        int watchdogCount = 0;
        int zeroGradSteps = 0;
        int step = startStep;
        List<Double> stepMillis = new ArrayList<>();
        try (MetricsLog metrics = new MetricsLog(strategy.isMain() ? outputDir : null, total, startStep > 0 ? startStep : -1,
                strategy.localRank() == 0)) {
            double windowLoss = 0;
            long windowTokens = 0;
            long windowStart = System.nanoTime();
            int windowSteps = 0;
            while (step < total && !stopping) {
                long t0 = System.nanoTime();
                double lr = peak * schedule.factor(step);
                double lossSum = 0;
                double gradNorm;
                long tokens = 0;
                double stepTokens;
                try (PointerScope scope = new PointerScope()) {
                    List<List<PackedRow>> micro = new ArrayList<>(accumulation);
                    long localLabels = 0;
                    for (int m = 0; m < accumulation; m++) {
                        List<PackedRow> rows = data.microBatch(step, strategy.dataParallelRank(), m);
                        micro.add(rows);
                        localLabels += strategy.labelTokens(rows, padTo, model.parallelism().sequenceMultiple());
                    }
                    stepTokens = Math.max(1.0, strategy.allReduceSum(localLabels));
                    double gradScale = scaler == null ? 1.0 : scaler.scale();
                    for (int m = 0; m < accumulation; m++) {
                        // a scope per micro-batch: nothing it makes (activations, boundary tensors) outlives it
                        try (PointerScope microScope = new PointerScope();
                             MicroBatch mb = strategy.microBatch(micro.get(m), padTo, tokenizer.padId(),
                                     model.parallelism().sequenceMultiple(), device);
                             ForwardContext ctx = new ForwardContext(mb.positionIds(), mb.segmentIds(),
                                     mb.queryIndex(), mb.keyIndex(), mb.keySegments(), model.config(), compute)
                                     .withDropout(dropoutSeed(step, m))) {
                            // loss scaling: the backward runs on loss x scale (the normalizer divided by it)
                            lossSum += runner.forwardBackward(mb.inputIds(), mb.targets(), ctx,
                                    stepTokens / gradScale, m == accumulation - 1);
                            tokens += mb.realTokens();
                        }
                    }
                    gradNorm = strategy.reduceAndClipGradients(config.optimizer().maxGradNorm(), gradScale);
                    if (scaler == null || scaler.update(gradNorm, step + 1)) {
                        strategy.step(lr);
                    } else {
                        strategy.skipStep();
                        LOG.warn("step {}: fp16 gradients overflowed at loss scale {}; step skipped, scale now {}",
                                step + 1, gradScale, scaler.scale());
                    }
                }
                double loss = strategy.allReduceSum(lossSum) / stepTokens;
                step++;
                losses.add(loss);
                double ms = (System.nanoTime() - t0) / 1e6;
                stepMillis.add(ms);
                StepMetrics sm = new StepMetrics(step, loss, lr, gradNorm, tokens, ms, data.epochAt(step));
                for (TrainingListener l : listeners) {
                    l.onStep(sm);
                }
                metrics.progress(step, loss);
                windowLoss += loss;
                windowTokens += tokens;
                windowSteps++;
                if (step % logEvery == 0 || step == total) {
                    double secs = (System.nanoTime() - windowStart) / 1e9;
                    metrics.logSteps(step, windowLoss / windowSteps, lr, gradNorm, windowTokens / secs,
                            data.epochAt(step), extraFields(windowTokens / secs));
                    windowLoss = 0;
                    windowTokens = 0;
                    windowSteps = 0;
                    windowStart = System.nanoTime();
                }
                if (!Double.isFinite(loss)) {
                    throw new TrainingException("loss became " + loss + " at step " + step + "; lower learning_rate "
                            + "or check the data");
                }
                zeroGradSteps = gradNorm == 0.0 ? zeroGradSteps + 1 : 0;
                if (zeroGradSteps == config.training().lossWatchdogPatience() && strategy.isMain()) {
                    LOG.warn("step {}: the gradient norm has been exactly 0 for {} steps (loss {}): nothing is "
                            + "learning; a learning_rate far too high saturates the model this way", step,
                            zeroGradSteps, String.format("%.4f", loss));
                }
                Double threshold = config.training().lossWatchdogThreshold();
                if (threshold != null) {
                    watchdogCount = loss > threshold ? watchdogCount + 1 : 0;
                    if (watchdogCount >= config.training().lossWatchdogPatience()) {
                        LOG.error("loss {} stayed above loss_watchdog_threshold {} for {} steps; stopping", loss,
                                threshold, watchdogCount);
                        stoppedEarly = true;
                        break;
                    }
                }
                // every rank leaves the loop after the same step when any rank was asked to stop
                stopping = strategy.anyRank(stopRequested);
                if (!stopping && evalEvery != null && step % evalEvery == 0 && step != total) {
                    EvalResult r = evaluate(data.valRows());
                    metrics.logEval(step, r, data.epochAt(step));
                    for (TrainingListener l : listeners) {
                        l.onEvaluation(step, r);
                    }
                }
                if ((saveEvery != null && step % saveEvery == 0) || (stopping && saveEvery != null)) {
                    saveCheckpoint(outputDir, step, losses);
                }
            }
            boolean interrupted = stopping && step < total; // a stop request is usually a deadline: no evaluation
            if (interrupted) {
                LOG.warn("stopped on request after step {} of {}: {}", step, total, saveEvery != null
                        ? "checkpoint-" + step + " holds it (resume_from_checkpoint: true continues)"
                        : "nothing saved (save_strategy is 'no')");
            }
            if (MemoryReport.requested()) {
                Map<String, Object> extra = new LinkedHashMap<>();
                extra.put("model_state_bytes", strategy.modelStateBytes());
                extra.put("trainable_parameters", model.parameterCount());
                if (model instanceof AdaptedModel a) {
                    extra.put("frozen_base_bytes", strategy.frozenBytesHeld(a));
                }
                List<Double> timed = stepMillis.size() > 3 ? stepMillis.subList(3, stepMillis.size()) : stepMillis;
                extra.put("median_step_ms", median(timed));
                MemoryReport.write(strategy, step, extra);
            }
            EvalResult finalEval = null;
            if (!data.valRows().isEmpty() && !interrupted) {
                finalEval = evaluate(data.valRows());
                metrics.logEval(step, finalEval, data.epochAt(step));
                for (TrainingListener l : listeners) {
                    l.onEvaluation(step, finalEval);
                }
            }
            if (step >= total && !stoppedEarly) {
                exportModel(outputDir);
            }
            LOG.info("rank {}: peak RSS {} MiB of its process (allocator: {}){}", strategy.rank(),
                    ProcessMemory.peakRssBytes() / (1024 * 1024), ProcessMemory.nativeAllocator(), DeviceMemory.of(device).map(m -> "; " + m.describe()).orElse(""));
            TrainResult result = new TrainResult(step, List.copyOf(losses), finalEval, outputDir,
                    dataset.fingerprint(), stoppedEarly);
            for (TrainingListener l : listeners) {
                l.onTrainEnd(result);
            }
            return result;
        } catch (IOException e) {
            throw new TrainingException("cannot write to output_dir " + outputDir + ": " + e.getMessage(), e);
        }
    }

    private Integer evalInterval(int stepsPerEpoch) {
        if (data.valRows().isEmpty()) {
            return null;
        }
        if (config.training().evalSteps() != null) {
            return config.training().evalSteps();
        }
        Integer per = config.training().evalsPerEpoch();
        return per == null || per == 0 ? null : Math.max(1, stepsPerEpoch / per);
    }

    private Integer saveInterval(int stepsPerEpoch) {
        var ck = config.checkpoint();
        if ("no".equals(ck.saveStrategy())) {
            return null;
        }
        if (ck.saveSteps() != null) {
            return ck.saveSteps();
        }
        if (ck.savesPerEpoch() != null) {
            return Math.max(1, stepsPerEpoch / ck.savesPerEpoch());
        }
        return stepsPerEpoch;
    }

    private int resume(Path outputDir, List<Double> losses) {
        String from = config.checkpoint().resumeFromCheckpoint();
        if (from == null) {
            return 0;
        }
        Path dir;
        if (from.equals("latest")) {
            Optional<Path> latest = Checkpoints.latest(outputDir);
            if (latest.isEmpty()) {
                LOG.info("resume_from_checkpoint: no checkpoint in {} yet; starting from step 0", outputDir);
                return 0;
            }
            dir = latest.get();
        } else {
            dir = Path.of(from);
            if (!Files.isRegularFile(dir.resolve(TrainerState.FILE))) {
                throw new TrainingException("resume_from_checkpoint: '" + from + "' is not a checkpoint directory "
                        + "(no " + TrainerState.FILE + ")");
            }
        }
        try {
            TrainerState state = TrainerState.read(dir);
            if (!state.datasetFingerprint().equals(dataset.fingerprint())) {
                throw new TrainingException("resume_from_checkpoint: " + dir + " was trained on a dataset with "
                        + "fingerprint " + state.datasetFingerprint() + ", but this run's is " + dataset.fingerprint());
            }
            strategy.loadCheckpoint(dir);
            if (scaler != null && state.lossScaler() != null) {
                scaler.restore(state.lossScaler());
                LOG.info("fp16 loss scale {} restored from {}", scaler.scale(), dir);
            } else if (scaler != null) {
                LOG.warn("{} has no loss_scaler state (written without fp16); the loss scale starts at {}", dir,
                        scaler.scale());
            }
            losses.addAll(state.losses());
            LOG.info("resumed from {} at step {}", dir, state.globalStep());
            return state.globalStep();
        } catch (IOException e) {
            throw new TrainingException("resume_from_checkpoint: cannot read " + dir + ": " + e.getMessage(), e);
        }
    }

    private void saveCheckpoint(Path outputDir, int step, List<Double> losses) throws IOException {
        Path tmp = strategy.isMain() ? Checkpoints.begin(outputDir, step) : null;
        strategy.barrier();
        Path target = Checkpoints.tmpDir(outputDir, step);
        strategy.saveCheckpoint(target, !config.checkpoint().saveOnlyModel());
        if (model instanceof AdaptedModel a && a.settings().lora()) {
            writeModel(target, DType.F32); // PEFT's files beside the strategy's own state, as Axolotl's checkpoints
        }
        strategy.barrier();
        if (strategy.isMain()) {
            new TrainerState(step, data.epochAt(step), data.totalSteps(), config.training().seed(),
                    dataset.fingerprint(), strategy.worldSize(), strategy.name(), List.copyOf(losses),
                    strategy.mesh(), Provenance.describe(), ConfigLoader.toYaml(config),
                    scaler == null ? null : scaler.state()).write(tmp);
            Tokenizers.save(config, tokenizer, tmp);
            Path done = Checkpoints.commit(tmp, outputDir, step);
            Checkpoints.rotate(outputDir, config.checkpoint().saveTotalLimit(), done);
            LOG.info("saved {}", done);
            for (TrainingListener l : listeners) {
                l.onCheckpoint(step, done);
            }
        }
        strategy.barrier();
    }

    /**
     * A line about the whole run (the same on every rank): one rank per node (local rank 0) prints it, the others
     * log it at debug level, so ranks sharing a console do not repeat it.
     */
    private void logRun(String format, Object... args) {
        if (strategy.localRank() == 0) {
            LOG.info(format, args);
        } else {
            LOG.debug(format, args);
        }
    }

    /** The median of some values (0 for none). */
    static double median(List<Double> values) {
        if (values.isEmpty()) {
            return 0;
        }
        List<Double> sorted = new ArrayList<>(values);
        java.util.Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    /**
     * A micro-batch's dropout seed: a function of the run's seed, the step, the micro-step and the data-parallel
     * rank (which rows it is), so a resumed run draws the masks the uninterrupted one drew.
     */
    private long dropoutSeed(int step, int micro) {
        return config.training().seed() * 0x9E3779B97F4A7C15L + step * 1_000_003L + micro * 8191L
                + strategy.dataParallelRank();
    }

    /**
     * Streams the trained weights from the strategy to the main rank's writer: PEFT's adapter files for a LoRA
     * run, else the whole HF model (with {@code unfrozen_parameters}, the trained parameters streamed and the
     * frozen ones streamed after them, gathered where the strategy shards them).
     */
    private void writeModel(Path dir, DType dtype) throws IOException {
        if (model instanceof AdaptedModel a && a.settings().lora()) {
            try (PeftFiles.Writer w = strategy.isMain() ? PeftFiles.writer(dir, a, config.model().baseModel())
                    : null) {
                strategy.streamFullWeights((name, t) -> {
                    if (w != null) {
                        w.accept(name, t);
                    }
                });
            }
        } else if (!model.frozenParameters().isEmpty()) {
            Map<String, long[]> shapes = new LinkedHashMap<>();
            for (String name : model.parameters().keySet()) {
                shapes.put(name, model.spec(name).shape());
            }
            model.frozenParameters().forEach((name, t) -> shapes.put(name, model.spec(name).shape()));
            try (HfModelWriter w = strategy.isMain() ? new HfModelWriter(dir, model.config(), shapes, dtype,
                    2L << 30) : null) {
                strategy.streamFullWeights((name, t) -> {
                    if (w != null) {
                        w.accept(name, t);
                    }
                });
                strategy.streamFrozenWeights(model, (name, t) -> {
                    if (w != null) {
                        w.accept(name, t);
                    }
                });
            }
        } else {
            strategy.writeFullModel(dir, model.config(), dtype);
        }
    }

    /** Streams the full weights from the strategy into the HF model files on the main rank. */
    private void exportModel(Path outputDir) throws IOException {
        DType dtype = exportType();
        writeModel(outputDir, dtype);
        if (strategy.isMain()) {
            Tokenizers.save(config, tokenizer, outputDir);
            writeProvenance(outputDir);
            LOG.info("exported the model to {} ({})", outputDir, dtype.torchName());
        }
        strategy.barrier();
    }

    /** {@code training_provenance.json} beside an exported model: what trained it, with which config and mesh. */
    private void writeProvenance(Path outputDir) throws IOException {
        Map<String, Object> p = new LinkedHashMap<>(Provenance.describe());
        p.put("strategy", strategy.name());
        p.put("world_size", strategy.worldSize());
        p.put("mesh", strategy.mesh());
        p.put("dataset_fingerprint", dataset.fingerprint());
        p.put("config", ConfigLoader.toYaml(config));
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(outputDir.resolve(PROVENANCE_FILE).toFile(), p);
    }

    /** Token-weighted mean loss over rows, split over data-parallel ranks and summed. */
    EvalResult evaluate(List<PackedRow> rows) {
        return Evaluation.run(model, rows, config.training().evalBatchSize(), tokenizer.padId(), computeType(),
                strategy, lossChunkElements(config));
    }

    @Override
    public void close() {
        try {
            strategy.close();
            if (model != null) {
                model.close();
            }
            if (tokenizer instanceof AutoCloseable c) {
                try {
                    c.close();
                } catch (Exception e) {
                    LOG.debug("closing tokenizer", e);
                }
            }
        } finally {
            closed.countDown();
        }
    }
}
