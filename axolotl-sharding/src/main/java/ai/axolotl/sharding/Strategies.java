package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigException;
import ai.axolotl.config.DeepSpeedConfig;
import ai.axolotl.config.ParallelSettings;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.distributed.gloo.ProcessGroups;
import ai.axolotl.sharding.cp.ContextParallelism;
import ai.axolotl.sharding.ddp.DdpLayer;
import ai.axolotl.sharding.fsdp.Fsdp2Layer;
import ai.axolotl.sharding.tp.TensorParallelism;
import ai.axolotl.sharding.zero.ZeroLayer;
import ai.axolotl.train.Checkpoints;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.ShardingStrategy;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

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

    /**
     * The strategy for this rank of a run over {@code groups}: a {@link ParallelPlan} applying, in order, tensor
     * parallel (when {@code tensor_parallel_size > 1}) and the data-parallel layer the rest of the config selects
     * (ZeRO for {@code deepspeed}, FSDP2 for {@code fsdp_config}, otherwise DDP), on the mesh's groups; one rank
     * without any of them trains with the {@link SingleProcessStrategy}, unless it resumes a checkpoint of another
     * layout, which data parallel over that one rank reads.
     */
    public static ShardingStrategy create(AxolotlConfig config, ProcessGroups groups) {
        int world = groups.spec().worldSize();
        DeviceMesh mesh = DeviceMesh.resolve(config.parallel(), world);
        ModelParallelLayer modelParallelLayer = mesh.tp() > 1
                ? new TensorParallelism(groups.group(mesh, DeviceMesh.Dim.TP), mesh, groups.spec().rank(),
                        config.parallel().tensorParallelSequenceParallel())
                : ModelParallelLayer.NONE;
        DataParallelLayer layer = dataParallelLayer(config, groups, mesh);
        if (world == 1 && layer instanceof DdpLayer && !resumesOtherLayout(config)) {
            layer.close();
            return new SingleProcessStrategy(groups.device());
        }
        ContextParallelism contextParallel = mesh.cp() > 1
                ? new ContextParallelism(groups.group(mesh, DeviceMesh.Dim.CP), config.parallel().headsKStride()) : null;
        return plan(modelParallelLayer, contextParallel, layer, groups, mesh);
    }

    /**
     * True when one rank of this config cannot train without process groups: ZeRO and FSDP2 (so their checkpoints
     * reshard to and from other world sizes), and a plain run resuming a checkpoint that is not one process's or
     * DDP's whole state (sharded or tensor-parallel), which data parallel over one rank reads
     * ({@link DdpLayer#loadFrom}).
     */
    public static boolean oneRankNeedsProcessGroups(AxolotlConfig config) {
        String selected = selectedName(config, 1);
        return selected.equals("zero") || selected.equals("fsdp2") || resumesOtherLayout(config);
    }

    /** True when the checkpoint the config resumes from exists and is not a one-process / DDP whole state. */
    private static boolean resumesOtherLayout(AxolotlConfig config) {
        Optional<Path> target = Checkpoints.resumeTarget(config);
        try {
            return target.isPresent() && Files.isDirectory(target.get())
                    && !MeshCheckpoint.holdsWholeState(target.get());
        } catch (IOException e) {
            throw new UncheckedIOException("resume_from_checkpoint: cannot read " + target.get() + ": "
                    + e.getMessage(), e);
        }
    }

    private static ParallelPlan plan(ModelParallelLayer modelParallelLayer, ContextParallelism contextParallel,
                                     DataParallelLayer layer, ProcessGroups groups, DeviceMesh mesh) {
        return new ParallelPlan(modelParallelLayer, contextParallel, layer, gradientGroup(groups, mesh), mesh,
                groups.spec().rank(), groups.spec().localRank(), groups.device(), groups);
    }

    /**
     * The ranks whose gradients (and loss sums, token counts) add up: dp_replicate x dp_shard x cp, since the cp
     * ranks of a data-parallel rank hold different tokens of the same rows.
     */
    private static Collectives gradientGroup(ProcessGroups groups, DeviceMesh mesh) {
        return groups.group(mesh, DeviceMesh.Dim.DP_REPLICATE, DeviceMesh.Dim.DP_SHARD, DeviceMesh.Dim.CP);
    }

    /**
     * The data-parallel layer over the mesh's dp_replicate x dp_shard x cp ranks: ZeRO (stage 1-3), FSDP2 / HSDP, or
     * DDP (also for a DeepSpeed config at stage 0, and for a group of one under tensor parallel).
     */
    private static DataParallelLayer dataParallelLayer(AxolotlConfig config, ProcessGroups groups, DeviceMesh mesh) {
        ParallelSettings p = config.parallel();
        int rank = groups.spec().rank();
        Collectives dataParallel = gradientGroup(groups, mesh);
        if (p.deepspeedEnabled()) {
            DeepSpeedConfig ds = p.deepSpeedSettings();
            if (ds == null) { // validation reads the JSON; it was not readable then
                throw new ConfigException("deepspeed", "cannot read the DeepSpeed config '" + p.deepspeed() + "'");
            }
            ds.checkWorld(config, mesh.dataParallelSize());
            if (ds.stage() >= 1) {
                return new ZeroLayer(ds.stage(), ds, config.precision().bf16Enabled(), dataParallel, mesh, rank);
            }
        } else if (p.fsdpEnabled()) {
            if (p.fsdpVersion() != null && p.fsdpVersion() == 1) {
                LoggerFactory.getLogger(Strategies.class).warn("FSDP1 config: running it as FSDP2 "
                        + "(keys migrated; axolotl migrate-config rewrites the file)");
            }
            return new Fsdp2Layer(p.fsdpSettings(), config.precision().bf16Enabled(), dataParallel,
                    groups.group(mesh, DeviceMesh.Dim.DP_SHARD, DeviceMesh.Dim.CP),
                    groups.group(mesh, DeviceMesh.Dim.DP_REPLICATE),
                    mesh, rank);
        }
        return ddpLayer(config, dataParallel, mesh, rank);
    }

    private static DdpLayer ddpLayer(AxolotlConfig config, Collectives dataParallel, DeviceMesh mesh, int rank) {
        Integer capMb = config.parallel().ddpBucketCapMb();
        long bucket = capMb == null ? DdpLayer.DEFAULT_BUCKET_BYTES : capMb * (1L << 20);
        return new DdpLayer(dataParallel, mesh, rank, bucket);
    }

    /**
     * Data parallel over every rank of {@code groups}, at any world size (one rank included: the gradient buckets
     * and their all-reduce then run on a group of one, which is how the test kit exercises this code at world 1).
     */
    public static ParallelPlan dataParallel(AxolotlConfig config, ProcessGroups groups) {
        DeviceMesh mesh = DeviceMesh.resolve(config.parallel(), groups.spec().worldSize());
        DdpLayer layer = ddpLayer(config, gradientGroup(groups, mesh), mesh, groups.spec().rank());
        return plan(ModelParallelLayer.NONE, null, layer, groups, mesh);
    }
}
