package ai.axolotl.config;

import jakarta.validation.constraints.Positive;

import java.io.Serializable;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Distributed-training keys, parsed and validated here and acted on by the sharding strategies.
 *
 * @param deepspeed a DeepSpeed JSON path, or null
 * @param deepspeedInline an inline DeepSpeed config, or null
 * @param fsdp the deprecated FSDP1 list ({@code [full_shard, auto_wrap]}), or null
 * @param fsdpConfig the {@code fsdp_config} block as written, with the {@code fsdp_} prefix stripped, or null
 *     ({@code axolotl migrate-config} rewrites it; the strategy reads {@code fsdpSettings})
 * @param fsdpSettings the FSDP block bound into types, or null when FSDP is off
 * @param fsdpVersion 1 or 2 when FSDP is configured, else null
 * @param deepSpeedSettings the DeepSpeed JSON read and checked once, at validation (null when DeepSpeed is off,
 *     or its file could not be read then)
 * @param tensorParallelSize tensor-parallel degree
 * @param contextParallelSize context-parallel degree
 * @param dpShardSize FSDP shard degree; null: the remaining world
 * @param dpReplicateSize replicate degree (HSDP)
 * @param ddpTimeout collective timeout in seconds; null: AXOLOTL_NCCL_TIMEOUT or 1800
 * @param ddpBucketCapMb gradient bucket size for data parallel, in MiB
 * @param tensorParallelSequenceParallel under tensor parallelism, split the activations between parallel regions
 *     (norms, residual stream) along the sequence (default true; {@code tensor_parallel_sequence_parallel})
 * @param headsKStride {@code heads_k_stride}: key/value heads per context-parallel gather in Axolotl's ring
 *     attention; must divide the key/value heads per tensor-parallel rank; null when not set
 * @param ringAttnFunc {@code ring_attn_func}: {@code varlen_llama3} or {@code batch_ring}, or null when not set
 */
public record ParallelSettings(
        String deepspeed,
        Map<String, Object> deepspeedInline,
        List<String> fsdp,
        Map<String, Object> fsdpConfig,
        FsdpSettings fsdpSettings,
        Integer fsdpVersion,
        DeepSpeedConfig deepSpeedSettings,
        @Positive int tensorParallelSize,
        @Positive int contextParallelSize,
        @Positive Integer dpShardSize,
        @Positive int dpReplicateSize,
        @Positive Integer ddpTimeout,
        @Positive Integer ddpBucketCapMb,
        boolean tensorParallelSequenceParallel,
        @Positive Integer headsKStride,
        String ringAttnFunc) implements Serializable {

    /** Copies collections so the record stays immutable. */
    public ParallelSettings {
        deepspeedInline = deepspeedInline == null ? null : Map.copyOf(deepspeedInline);
        fsdp = fsdp == null ? null : List.copyOf(fsdp);
        fsdpConfig = fsdpConfig == null ? null : Collections.unmodifiableMap(new TreeMap<>(fsdpConfig));
    }

    /** The same settings with the DeepSpeed JSON read. */
    public ParallelSettings withDeepSpeedSettings(DeepSpeedConfig ds) {
        return new ParallelSettings(deepspeed, deepspeedInline, fsdp, fsdpConfig, fsdpSettings, fsdpVersion, ds,
                tensorParallelSize, contextParallelSize, dpShardSize, dpReplicateSize, ddpTimeout, ddpBucketCapMb,
                tensorParallelSequenceParallel, headsKStride, ringAttnFunc);
    }

    /** True when FSDP is configured (an fsdp_config block or the FSDP1 list). */
    public boolean fsdpEnabled() {
        return fsdpConfig != null || (fsdp != null && !fsdp.isEmpty());
    }

    /** True when DeepSpeed is configured. */
    public boolean deepspeedEnabled() {
        return deepspeed != null || deepspeedInline != null;
    }
}
