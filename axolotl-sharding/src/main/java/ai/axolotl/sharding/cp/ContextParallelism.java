package ai.axolotl.sharding.cp;

import ai.axolotl.config.ConfigException;
import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.model.CausalLm;
import ai.axolotl.runtime.Device;

import java.util.List;

/**
 * The plan's context-parallel slot, applied after tensor parallel and before the data-parallel layer: it slices no
 * weights; it substitutes the attention kernel ({@link GatheredKvAttention} over the cp group) and cuts every
 * micro-batch ({@link HeadTailSharder}). Its ranks read the same rows (the data-parallel rank ignores cp); the
 * loss and gradient groups of the plan span cp, so the shards' loss sums, token counts and gradients add up to
 * the whole rows'.
 */
public final class ContextParallelism {
    private final Collectives group;
    private final HeadTailSharder sharder;
    private final Integer headsKStride;
    private GatheredKvAttention kernel;

    /**
     * Context parallel over {@code group} (this rank's cp group).
     *
     * @param headsKStride {@code heads_k_stride} or null: checked against the model's key/value heads per
     *     tensor-parallel rank, which it must divide (Axolotl's rule); the kernel gathers every key/value head of a
     *     layer in one collective whatever the stride, which gives the same result (the stride only sets how many
     *     heads ring-flash-attn holds at a time)
     */
    public ContextParallelism(Collectives group, Integer headsKStride) {
        this.group = group;
        this.sharder = new HeadTailSharder(group.size(), group.rank());
        this.headsKStride = headsKStride;
    }

    /** The cp degree. */
    public int size() {
        return group.size();
    }

    /** The model over the same parameters with its attention gathering keys and values over the cp group. */
    public CausalLm parallelize(CausalLm model) {
        int tp = model.parallelism().size();
        int kvHeads = model.config().numKeyValueHeads() / tp;
        if (headsKStride != null && kvHeads % headsKStride != 0) {
            throw new ConfigException("heads_k_stride", "heads_k_stride (" + headsKStride + ") must divide the "
                    + "key/value heads per tensor-parallel rank: num_key_value_heads (" + model.config()
                    .numKeyValueHeads() + ") / tensor_parallel_size (" + tp + ") = " + kvHeads);
        }
        kernel = new GatheredKvAttention(group, model.attention());
        return model.withComputation(kernel, model.projections());
    }

    /** This rank's shard of a micro-batch. */
    public MicroBatch microBatch(List<PackedRow> rows, int padTo, int padId, int multiple, Device device) {
        return sharder.shard(rows, padTo, padId, multiple, device);
    }

    /** The label tokens of this rank's shard. */
    public long labelTokens(List<PackedRow> rows, int padTo, int multiple) {
        return sharder.labelTokens(rows, padTo, multiple);
    }

    /** The kernel installed by {@link #parallelize} (its collective counts), or null before. */
    public GatheredKvAttention kernel() {
        return kernel;
    }

    /** The strategy's name with cp: {@code ddp+cp}, {@code fsdp2+cp+tp}. */
    public static String name(String withoutCp) {
        int tp = withoutCp.indexOf("+tp");
        if (withoutCp.equals("tp")) {
            return "cp+tp";
        }
        return tp >= 0 ? withoutCp.substring(0, tp) + "+cp" + withoutCp.substring(tp) : withoutCp + "+cp";
    }
}
