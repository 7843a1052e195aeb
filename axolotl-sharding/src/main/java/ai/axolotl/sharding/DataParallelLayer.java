package ai.axolotl.sharding;

/**
 * A data-parallel layer of the {@link ParallelPlan}: DDP, ZeRO 1-3, FSDP2 or HSDP over the mesh's dp_replicate x
 * dp_shard ranks, replicating or sharding the model (or a model parallelism's slice of it). It owns its three
 * concerns, {@link ParameterPlacement}, {@link GradientSync} and {@link StateCheckpoints}, and nothing else: rank
 * arithmetic, loss sums, the stop agreement, the global norm and the export are the plan's.
 */
public interface DataParallelLayer extends ParameterPlacement, GradientSync, StateCheckpoints, AutoCloseable {
    /** Short name for logs, benchmarks and checkpoints ({@code ddp}, {@code zero3}, {@code fsdp2}, {@code hsdp}). */
    String name();

    @Override
    void close();
}
