package ai.axolotl.distributed;

import java.util.Map;

/**
 * Where this process sits in a distributed run, as torchrun describes it.
 *
 * @param rank global rank
 * @param worldSize number of ranks
 * @param localRank rank within this node
 * @param localWorldSize ranks on this node
 * @param masterAddr host of the rendezvous store (served by rank 0)
 * @param masterPort port of the rendezvous store
 */
public record WorldSpec(int rank, int worldSize, int localRank, int localWorldSize, String masterAddr,
                        int masterPort) {
    /** Checks the numbers fit together. */
    public WorldSpec {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("RANK " + rank + " is outside WORLD_SIZE " + worldSize);
        }
        if (localWorldSize < 1 || localRank < 0 || localRank >= localWorldSize) {
            throw new IllegalArgumentException("LOCAL_RANK " + localRank + " is outside LOCAL_WORLD_SIZE "
                    + localWorldSize);
        }
        if (worldSize % localWorldSize != 0) {
            throw new IllegalArgumentException("WORLD_SIZE " + worldSize + " is not a multiple of LOCAL_WORLD_SIZE "
                    + localWorldSize + " (every node must run the same number of processes)");
        }
        if (masterPort <= 0 || masterPort > 65535) {
            throw new IllegalArgumentException("MASTER_PORT " + masterPort + " is not a TCP port");
        }
    }

    /** A single process. */
    public static WorldSpec single() {
        return new WorldSpec(0, 1, 0, 1, "127.0.0.1", 29500);
    }

    /** Number of nodes. */
    public int numNodes() {
        return worldSize / localWorldSize;
    }

    /** This process's node. */
    public int nodeRank() {
        return rank / localWorldSize;
    }

    /**
     * Reads the world from the environment: torchrun's RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
     * MASTER_ADDR, MASTER_PORT, else SLURM's SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE and
     * the first host of SLURM_NODELIST; null when neither is set.
     */
    public static WorldSpec fromEnvironment(Map<String, String> env) {
        if (env.containsKey("RANK") && env.containsKey("WORLD_SIZE")) {
            int world = parse(env, "WORLD_SIZE");
            int localWorld = env.containsKey("LOCAL_WORLD_SIZE") ? parse(env, "LOCAL_WORLD_SIZE") : world;
            return new WorldSpec(parse(env, "RANK"), world,
                    env.containsKey("LOCAL_RANK") ? parse(env, "LOCAL_RANK") : parse(env, "RANK") % localWorld,
                    localWorld, env.getOrDefault("MASTER_ADDR", "127.0.0.1"),
                    env.containsKey("MASTER_PORT") ? parse(env, "MASTER_PORT") : 29500);
        }
        if (env.containsKey("SLURM_PROCID") && env.containsKey("SLURM_NTASKS")) {
            int world = parse(env, "SLURM_NTASKS");
            int perNode = env.containsKey("SLURM_NTASKS_PER_NODE")
                    ? Integer.parseInt(env.get("SLURM_NTASKS_PER_NODE").replaceAll("\\(.*", "").trim()) : world;
            String master = env.containsKey("MASTER_ADDR") ? env.get("MASTER_ADDR")
                    : firstHost(env.getOrDefault("SLURM_NODELIST", env.getOrDefault("SLURM_JOB_NODELIST",
                    "127.0.0.1")));
            int rank = parse(env, "SLURM_PROCID");
            return new WorldSpec(rank, world, env.containsKey("SLURM_LOCALID") ? parse(env, "SLURM_LOCALID")
                    : rank % perNode, perNode, master,
                    env.containsKey("MASTER_PORT") ? parse(env, "MASTER_PORT") : 29500);
        }
        return null;
    }

    private static int parse(Map<String, String> env, String key) {
        try {
            return Integer.parseInt(env.get(key).trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + "='" + env.get(key) + "' is not an integer");
        }
    }

    /** The first host of a SLURM node list: {@code node[3-5,7],gpu1} gives {@code node3}. */
    static String firstHost(String nodelist) {
        String first = nodelist.split(",(?![^\\[]*\\])")[0].trim();
        int bracket = first.indexOf('[');
        if (bracket < 0) {
            return first;
        }
        String prefix = first.substring(0, bracket);
        String range = first.substring(bracket + 1, first.indexOf(']', bracket));
        String start = range.split("[,-]")[0];
        return prefix + start;
    }
}
