package ai.axolotl.distributed.launch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The nodes of a run and this node's place among them, with torchrun semantics: the same command on every node,
 * only the node rank differs.
 *
 * @param numNodes nodes
 * @param nodeRank this node (0 is the master)
 * @param procsPerNode ranks on each node
 * @param masterAddr address of node 0 (serves the rendezvous store)
 * @param masterPort port of the store
 */
public record NodeTopology(int numNodes, int nodeRank, int procsPerNode, String masterAddr, int masterPort) {
    /** Checks the numbers. */
    public NodeTopology {
        if (numNodes < 1) {
            throw new IllegalArgumentException("--num-nodes must be at least 1, got " + numNodes);
        }
        if (nodeRank < 0 || nodeRank >= numNodes) {
            throw new IllegalArgumentException("--node-rank " + nodeRank + " is outside 0.." + (numNodes - 1));
        }
        if (procsPerNode < 1) {
            throw new IllegalArgumentException("--nproc-per-node must be at least 1, got " + procsPerNode);
        }
    }

    /** Total ranks. */
    public int worldSize() {
        return numNodes * procsPerNode;
    }

    /**
     * Reads Accelerate's static rendezvous file ({@code machine_rank}, {@code main_process_ip},
     * {@code main_process_port}, {@code num_machines}, {@code num_processes}), naming its classic mistakes.
     */
    public static NodeTopology fromAccelerateConfig(Path file) {
        JsonNode n;
        try {
            n = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("--accelerate-config " + file + ": cannot read: " + e.getMessage());
        }
        int machines = required(n, "num_machines", file);
        int processes = required(n, "num_processes", file);
        int machineRank = n.has("machine_rank") ? n.get("machine_rank").asInt() : 0;
        if (processes % machines != 0) {
            throw new IllegalArgumentException(file + ": num_processes (" + processes + ") is not num_machines ("
                    + machines + ") x processes per machine; num_processes counts every process on every machine");
        }
        String ip = n.hasNonNull("main_process_ip") ? n.get("main_process_ip").asText() : "127.0.0.1";
        if (machines > 1 && !n.hasNonNull("main_process_ip")) {
            throw new IllegalArgumentException(file + ": main_process_ip is required when num_machines > 1");
        }
        int port = n.hasNonNull("main_process_port") ? n.get("main_process_port").asInt() : 29500;
        if (machineRank < 0 || machineRank >= machines) {
            throw new IllegalArgumentException(file + ": machine_rank " + machineRank + " is outside 0.."
                    + (machines - 1));
        }
        return new NodeTopology(machines, machineRank, processes / machines, ip, port);
    }

    private static int required(JsonNode n, String key, Path file) {
        if (!n.hasNonNull(key) || !n.get(key).canConvertToInt() || n.get(key).asInt() < 1) {
            throw new IllegalArgumentException(file + ": " + key + " must be a positive integer");
        }
        return n.get(key).asInt();
    }
}
