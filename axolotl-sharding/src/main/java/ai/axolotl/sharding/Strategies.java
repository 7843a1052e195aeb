package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigException;
import ai.axolotl.config.DeepSpeedConfig;
import ai.axolotl.sharding.fsdp.Fsdp2Strategy;
import ai.axolotl.sharding.tp.TensorParallelStrategy;
import ai.axolotl.sharding.zero.ZeroStrategy;
import ai.axolotl.config.ParallelSettings;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.distributed.gloo.ProcessGroups;
import ai.axolotl.distributed.preflight.Preflight;
import ai.axolotl.sharding.ddp.DataParallelStrategy;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.TrainingStrategy;

/**
 * Chooses the strategy a config asks for, as Axolotl does: {@code deepspeed} means ZeRO, {@code fsdp_config} or
 * {@code fsdp_version} FSDP2, {@code tensor_parallel_size} tensor parallel (composed with data parallel), and otherwise
 * data parallel when the world has more than one rank.
 */
public final class Strategies {
    private Strategies() {}

    /** The name of the strategy a config selects at a world size. */
    public static String selectedName(AxolotlConfig config, int worldSize) {
        ParallelSettings p = config.parallel();
        if (p.contextParallelSize() > 1) {
            return "cp";
        }
        if (p.tensorParallelSize() > 1) {
            return "tp";
        }
        if (p.deepspeedEnabled()) {
            return "zero";
        }
        if (p.fsdpEnabled()) {
            return "fsdp2";
        }
        return worldSize > 1 ? "ddp" : "single";
    }

    /** The strategy for this rank of a run over {@code groups}. */
    public static TrainingStrategy create(AxolotlConfig config, ProcessGroups groups) {
        int world = groups.spec().worldSize();
        String name = selectedName(config, world);
        if (name.equals("cp")) {
            throw new ConfigException("context_parallel_size", "context parallelism is not available in this build "
                    + "yet; set context_parallel_size to 1");
        }
        DeviceMesh mesh = DeviceMesh.resolve(config.parallel(), world);
        if (name.equals("tp")) {
            return tensorParallel(config, groups);
        }
        int[] steps = {0};
        if (name.equals("zero")) {
            DeepSpeedConfig ds = config.parallel().deepSpeedSettings();
            if (ds == null) { // validation reads the JSON; it was not readable then
                throw new ConfigException("deepspeed", "cannot read the DeepSpeed config '"
                        + config.parallel().deepspeed() + "'");
            }
            ds.checkWorld(config, mesh.dataParallelSize());
            if (ds.stage() >= 1) {
                return new ZeroStrategy(ds.stage(), ds, config.precision().bf16Enabled(), groups.group(mesh, DeviceMesh.Dim.DP_REPLICATE,
                        DeviceMesh.Dim.DP_SHARD), mesh, groups.spec().rank(),
                        facts -> Preflight.check(groups.rendezvous(), facts),
                        () -> groups.monitor().progress(++steps[0]));
            }
        }
        if (name.equals("fsdp2")) {
            if (config.parallel().fsdpVersion() != null && config.parallel().fsdpVersion() == 1) {
                org.slf4j.LoggerFactory.getLogger(Strategies.class).warn("FSDP1 config: running it as FSDP2 "
                        + "(keys migrated; axolotl migrate-config rewrites the file)");
            }
            return new Fsdp2Strategy(config.parallel().fsdpSettings(), config.precision().bf16Enabled(),
                    groups.group(mesh, DeviceMesh.Dim.DP_REPLICATE, DeviceMesh.Dim.DP_SHARD),
                    groups.group(mesh, DeviceMesh.Dim.DP_SHARD), groups.group(mesh, DeviceMesh.Dim.DP_REPLICATE),
                    mesh, groups.spec().rank(), facts -> Preflight.check(groups.rendezvous(), facts),
                    () -> groups.monitor().progress(++steps[0]));
        }
        if (world == 1) {
            return new SingleProcessStrategy();
        }
        return dataParallel(config, groups);
    }

    /**
     * Tensor parallel over the mesh's tp groups, composed with data parallel over its dp_replicate x dp_shard
     * groups (a group of one when the whole world is tensor parallel).
     */
    public static TensorParallelStrategy tensorParallel(AxolotlConfig config, ProcessGroups groups) {
        DeviceMesh mesh = DeviceMesh.resolve(config.parallel(), groups.spec().worldSize());
        DataParallelStrategy replicas = dataParallel(config, groups);
        return new TensorParallelStrategy(groups.group(mesh, DeviceMesh.Dim.TP), replicas,
                groups.group(mesh, DeviceMesh.Dim.DP_REPLICATE, DeviceMesh.Dim.DP_SHARD), mesh, groups.spec().rank(),
                config.parallel().tensorParallelSequenceParallel(), facts -> Preflight.check(groups.rendezvous(), facts));
    }

    /**
     * Data parallel over every rank of {@code groups}, at any world size (one rank included: the gradient buckets
     * and their all-reduce then run on a group of one, which is how the test kit exercises this code at world 1).
     */
    public static DataParallelStrategy dataParallel(AxolotlConfig config, ProcessGroups groups) {
        DeviceMesh mesh = DeviceMesh.resolve(config.parallel(), groups.spec().worldSize());
        int[] steps = {0};
        Integer capMb = config.parallel().ddpBucketCapMb();
        long bucket = capMb == null ? DataParallelStrategy.DEFAULT_BUCKET_BYTES : capMb * (1L << 20);
        return new DataParallelStrategy(groups.group(mesh, DeviceMesh.Dim.DP_REPLICATE, DeviceMesh.Dim.DP_SHARD),
                mesh, groups.spec().rank(), bucket, facts -> Preflight.check(groups.rendezvous(), facts),
                () -> groups.monitor().progress(++steps[0]));
    }
}
