package ai.axolotl.spark;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.distributed.CollectivesProvider;
import ai.axolotl.distributed.Timeouts;
import ai.axolotl.distributed.WorldSpec;
import ai.axolotl.distributed.gloo.ProcessGroups;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Natives;
import ai.axolotl.sharding.Strategies;
import ai.axolotl.train.Checkpoints;
import ai.axolotl.train.StepMetrics;
import ai.axolotl.train.TrainResult;
import ai.axolotl.train.Trainer;
import ai.axolotl.train.TrainingListener;
import ai.axolotl.train.ShardingStrategy;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One rank, as one task of the barrier stage: rank = partition id. Task 0 picks a free port on its executor and
 * shares {@code host:port} through {@link BarrierTaskContext#allGather}; the ranks then rendezvous over the
 * library's TCPStore and run the same {@link Trainer} as {@code axolotl train} (preflight, collectives,
 * strategies, checkpoints, metrics). A retried stage attempt resumes from the latest complete checkpoint in
 * {@code output_dir}. Rank 0 returns the run's result; the other ranks return nothing.
 */
final class RankTask extends AbstractFunction1<Iterator<Integer>, Iterator<SparkTrainResult>>
        implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(RankTask.class);

    private final AxolotlConfig config;
    private final InputManifest input;
    private final int ranks;
    private final int threadsPerRank;
    private final String metricsEndpoint;
    private final RankListeners rankListeners;
    private final String runId;

    /**
     * @param config the run's config, its dataset already pointing at the written input
     * @param input the written input, checked by every rank before training
     * @param ranks world size
     * @param threadsPerRank libtorch intra-op threads per rank; 0: the task's {@code spark.task.cpus}
     * @param metricsEndpoint the driver's metrics socket, or null
     * @param rankListeners extra listeners per rank, or null
     * @param runId separates this run's rendezvous keys from others'
     */
    RankTask(AxolotlConfig config, InputManifest input, int ranks, int threadsPerRank, String metricsEndpoint,
             RankListeners rankListeners, String runId) {
        this.config = config;
        this.input = input;
        this.ranks = ranks;
        this.threadsPerRank = threadsPerRank;
        this.metricsEndpoint = metricsEndpoint;
        this.rankListeners = rankListeners;
        this.runId = runId;
    }

    @Override
    public Iterator<SparkTrainResult> apply(Iterator<Integer> partition) {
        Natives.load();
        BarrierTaskContext ctx = BarrierTaskContext.get();
        int rank = ctx.partitionId();
        int attempt = ctx.stageAttemptNumber();
        String host = hostOf(ctx.getTaskInfos()[0].address());
        String mine = rank == 0 ? host + ":" + ThreadLauncher.freePort() : "";
        String master = ctx.allGather(mine)[0];
        int colon = master.lastIndexOf(':');
        WorldSpec spec = new WorldSpec(rank, ranks, 0, 1, master.substring(0, colon),
                Integer.parseInt(master.substring(colon + 1)));
        input.verify(rank);

        AxolotlConfig c = config;
        String resumedFrom = null;
        Path outputDir = Path.of(c.checkpoint().outputDir());
        if (attempt > 0) {
            c = resumeLatest(c);
            Optional<Path> latest = Checkpoints.latest(outputDir);
            resumedFrom = latest.map(Path::toString).orElse(null);
            LOG.info("rank {}: stage attempt {} resumes from {}", rank, attempt,
                    resumedFrom == null ? "step 0 (no complete checkpoint yet)" : resumedFrom);
        } else if ("latest".equals(c.checkpoint().resumeFromCheckpoint())) {
            resumedFrom = Checkpoints.latest(outputDir).map(Path::toString).orElse(null);
        } else if (c.checkpoint().resumeFromCheckpoint() != null) {
            resumedFrom = c.checkpoint().resumeFromCheckpoint();
        }

        List<StepMetrics> history = new ArrayList<>();
        List<TrainingListener> listeners = new ArrayList<>();
        if (rankListeners != null) {
            listeners.addAll(rankListeners.create(rank, attempt));
        }
        MetricsChannel.Reporter reporter = null;
        if (rank == 0) {
            listeners.add(new TrainingListener() {
                @Override
                public void onStep(StepMetrics m) {
                    history.add(m);
                }
            });
            if (metricsEndpoint != null) {
                reporter = new MetricsChannel.Reporter(metricsEndpoint);
                listeners.add(reporter);
            }
        }
        int threads = threadsPerRank > 0 ? threadsPerRank : Math.max(1, ctx.cpus());
        String id = runId + "-a" + attempt;
        Device device = Device.forRank(gpuOrdinal(ctx), System.getenv());
        device.log(LOG, "rank " + rank);
        try (ProcessGroups groups = ProcessGroups.start(spec, Timeouts.forRun(c.parallel(), System.getenv()), id,
                device, CollectivesProvider.forDevice(device.type()));
             ShardingStrategy s = Strategies.create(c, groups);
             Trainer trainer = new Trainer(c, s, listeners, threads)) {
            TrainResult r = trainer.fit();
            if (rank != 0) {
                return CollectionConverters.asScala(List.<SparkTrainResult>of().iterator());
            }
            return CollectionConverters.asScala(List.of(new SparkTrainResult(r.steps(), r.losses(), history,
                    r.finalEval(), r.outputDir().toAbsolutePath().toString(), r.datasetFingerprint(),
                    r.stoppedEarly(), attempt, resumedFrom, input.rows())).iterator());
        } finally {
            if (reporter != null) {
                reporter.close();
            }
        }
    }

    /**
     * The CUDA ordinal Spark gave this task ({@code spark.task.resource.gpu.amount}: the first address of its
     * {@code gpu} resource), else 0: in a Spark task the GPU comes from the scheduler, not from LOCAL_RANK.
     */
    static int gpuOrdinal(BarrierTaskContext ctx) {
        ResourceInformation gpu = ctx.resources().get("gpu").getOrElse(() -> null);
        if (gpu == null || gpu.addresses().length == 0) {
            return 0;
        }
        try {
            return Integer.parseInt(gpu.addresses()[0].trim());
        } catch (NumberFormatException e) {
            throw new SparkTrainingException("task of partition " + ctx.partitionId() + ": GPU address '"
                    + gpu.addresses()[0] + "' from the gpu resource discovery script is not a CUDA ordinal");
        }
    }

    /** The host part of an executor address ({@code host:port}, {@code [v6]:port} or a bare host). */
    static String hostOf(String address) {
        if (address.startsWith("[")) {
            return address.substring(1, address.indexOf(']'));
        }
        int colon = address.lastIndexOf(':');
        return colon > 0 && address.indexOf(':') == colon ? address.substring(0, colon) : address;
    }

    /** The config with {@code resume_from_checkpoint: true}: the newest complete checkpoint, if any. */
    static AxolotlConfig resumeLatest(AxolotlConfig c) {
        return c.withCheckpoint(c.checkpoint().withResumeFromCheckpoint("latest"));
    }
}
