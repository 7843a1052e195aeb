package ai.axolotl.distributed;

import ai.axolotl.config.ConfigException;
import ai.axolotl.config.ParallelSettings;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How ranks are arranged: {@code dp_replicate x dp_shard x cp x tp} in row-major order (tp varies fastest), as
 * torchtitan and Axolotl lay them out. Pure arithmetic; the collectives of each sub-group are built by the
 * runtime from {@link #groupRanks}.
 *
 * @param dpReplicate replicate degree (HSDP's outer data-parallel dimension)
 * @param dpShard shard degree (FSDP/ZeRO data-parallel dimension)
 * @param cp context-parallel degree
 * @param tp tensor-parallel degree
 */
public record DeviceMesh(int dpReplicate, int dpShard, int cp, int tp) {
    /** The mesh dimensions. */
    public enum Dim { DP_REPLICATE, DP_SHARD, CP, TP }

    /** Checks every degree is positive. */
    public DeviceMesh {
        if (dpReplicate < 1 || dpShard < 1 || cp < 1 || tp < 1) {
            throw new IllegalArgumentException("mesh degrees must be positive: " + this);
        }
    }

    /** Number of ranks the mesh spans. */
    public int size() {
        return dpReplicate * dpShard * cp * tp;
    }

    /** Ranks that split each global batch: dp_replicate x dp_shard. */
    public int dataParallelSize() {
        return dpReplicate * dpShard;
    }

    /** The axes and their sizes by Axolotl's names, in mesh order, as checkpoints and exports record them. */
    public Map<String, Integer> axes() {
        Map<String, Integer> m = new LinkedHashMap<>();
        m.put("dp_replicate", dpReplicate);
        m.put("dp_shard", dpShard);
        m.put("cp", cp);
        m.put("tp", tp);
        return m;
    }

    private int[] sizes() {
        return new int[] {dpReplicate, dpShard, cp, tp};
    }

    /** Coordinates of a rank, in {@link Dim} order. */
    public int[] coordinates(int rank) {
        int[] s = sizes();
        int[] c = new int[4];
        int r = rank;
        for (int d = 3; d >= 0; d--) {
            c[d] = r % s[d];
            r /= s[d];
        }
        return c;
    }

    /** The rank at the given coordinates. */
    public int rankAt(int[] c) {
        int[] s = sizes();
        int r = 0;
        for (int d = 0; d < 4; d++) {
            r = r * s[d] + c[d];
        }
        return r;
    }

    /** This rank's index among the data-parallel ranks (replicate-major). */
    public int dataParallelRank(int rank) {
        int[] c = coordinates(rank);
        return c[0] * dpShard + c[1];
    }

    /**
     * This rank's index among the ranks whose gradients add up ({@code dp_replicate x dp_shard x cp}, replicate-major):
     * 0 for exactly one rank of each tensor-parallel slice, the one that writes what they all hold.
     */
    public int gradientRank(int rank) {
        int[] c = coordinates(rank);
        return (c[0] * dpShard + c[1]) * cp + c[2];
    }

    /** The ranks, in order, of {@code rank}'s group spanning the given dimensions (the others held fixed). */
    public List<Integer> groupRanks(int rank, Dim... dims) {
        int[] base = coordinates(rank);
        int[] s = sizes();
        boolean[] free = new boolean[4];
        for (Dim d : dims) {
            free[d.ordinal()] = true;
        }
        List<Integer> out = new ArrayList<>();
        for (int r = 0; r < size(); r++) {
            int[] c = coordinates(r);
            boolean same = true;
            for (int d = 0; d < 4; d++) {
                if (!free[d] && c[d] != base[d]) {
                    same = false;
                    break;
                }
            }
            if (same) {
                out.add(r);
            }
        }
        return out;
    }

    /**
     * Resolves the mesh for a world size from the config, with Axolotl's rules: tp and cp divide the world first;
     * an unset dp_shard takes what remains (divided by dp_replicate); the product must equal the world size.
     */
    public static DeviceMesh resolve(ParallelSettings p, int worldSize) {
        int tp = p.tensorParallelSize();
        int cp = p.contextParallelSize();
        int rep = p.dpReplicateSize();
        if (worldSize % (tp * cp) != 0) {
            throw new ConfigException("tensor_parallel_size", "tensor_parallel_size (" + tp + ") x "
                    + "context_parallel_size (" + cp + ") must divide the world size (" + worldSize + ")");
        }
        int remaining = worldSize / (tp * cp);
        int shard;
        if (p.dpShardSize() != null) {
            shard = p.dpShardSize();
        } else {
            if (remaining % rep != 0) {
                throw new ConfigException("dp_replicate_size", "dp_replicate_size (" + rep + ") must divide the "
                        + "ranks left after tp and cp (" + remaining + ")");
            }
            shard = remaining / rep;
        }
        DeviceMesh mesh = new DeviceMesh(rep, shard, cp, tp);
        if (mesh.size() != worldSize) {
            throw new ConfigException("dp_shard_size", "dp_replicate(" + rep + ") * dp_shard(" + shard + ") * cp("
                    + cp + ") * tp(" + tp + ") != world_size(" + worldSize + ")");
        }
        return mesh;
    }
}
