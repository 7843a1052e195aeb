package ai.axolotl.distributed.gloo;

import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.distributed.Rendezvous;
import ai.axolotl.distributed.WorldSpec;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * This rank's view of a distributed run over Gloo: the rendezvous, the peer monitor, the world group and the
 * sub-groups of a device mesh (created in the same order on every rank, each over its own store prefix).
 */
public final class ProcessGroups implements AutoCloseable {
    private final Rendezvous rendezvous;
    private final PeerMonitor monitor;
    private final GlooCollectives world;
    private final String host;
    private final Map<String, GlooCollectives> groups = new LinkedHashMap<>();

    private ProcessGroups(Rendezvous rendezvous, PeerMonitor monitor, GlooCollectives world, String host) {
        this.rendezvous = rendezvous;
        this.monitor = monitor;
        this.world = world;
        this.host = host;
    }

    /** Joins the rendezvous and connects the world group; bounded by {@code timeout}. */
    public static ProcessGroups start(WorldSpec spec, Duration timeout, String runId) {
        Rendezvous rv = Rendezvous.join(spec, timeout, runId);
        PeerMonitor monitor = new PeerMonitor(rv);
        String host = GlooCollectives.localAddressFor(spec.masterAddr(), spec.masterPort());
        try {
            GlooCollectives world = GlooCollectives.create(rv.store(), "axolotl/" + runId + "/pg/world",
                    spec.rank(), spec.worldSize(), timeout, host, monitor::diagnose);
            return new ProcessGroups(rv, monitor, world, host);
        } catch (RuntimeException e) {
            monitor.close();
            rv.close();
            throw e;
        }
    }

    /** The rendezvous (store and world). */
    public Rendezvous rendezvous() {
        return rendezvous;
    }

    /** The peer monitor. */
    public PeerMonitor monitor() {
        return monitor;
    }

    /** The world. */
    public WorldSpec spec() {
        return rendezvous.world();
    }

    /** Every rank. */
    public Collectives world() {
        return world;
    }

    /**
     * The group of this rank spanning the given mesh dimensions. The world group is reused when the group is the
     * whole world; groups are cached.
     */
    public synchronized Collectives group(DeviceMesh mesh, DeviceMesh.Dim... dims) {
        int rank = spec().rank();
        List<Integer> members = mesh.groupRanks(rank, dims);
        if (members.size() == spec().worldSize()) {
            return world;
        }
        String key = members.stream().map(String::valueOf).collect(Collectors.joining(","));
        return groups.computeIfAbsent(key, k -> GlooCollectives.create(rendezvous.store(),
                "axolotl/" + rendezvous.runId() + "/pg/" + k, members.indexOf(rank), members.size(),
                rendezvous.timeout(), host, monitor::diagnose));
    }

    @Override
    public void close() {
        // keeps rank 0's store up until every rank is done with it; skipped when a group already failed (the
        // peers are gone or stuck in the failed operation, and waiting for them only delays the error)
        boolean anyFailed = world.failed() || groups.values().stream().anyMatch(GlooCollectives::failed);
        if (!anyFailed) {
            world.barrierBeforeClose();
        }
        groups.values().forEach(GlooCollectives::close);
        world.close();
        monitor.close();
        rendezvous.close();
    }
}
