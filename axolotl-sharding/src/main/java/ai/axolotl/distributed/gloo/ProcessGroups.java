package ai.axolotl.distributed.gloo;

import ai.axolotl.distributed.BackendCollectives;
import ai.axolotl.distributed.Collectives;
import ai.axolotl.distributed.CollectivesProvider;
import ai.axolotl.distributed.CollectivesProvider.GroupRequest;
import ai.axolotl.distributed.DeviceMesh;
import ai.axolotl.distributed.Peers;
import ai.axolotl.distributed.Rendezvous;
import ai.axolotl.distributed.preflight.Preflight;
import ai.axolotl.distributed.WorldSpec;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Natives;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * This rank's view of a distributed run: the rendezvous, the peer monitor, the world group and the sub-groups of
 * a device mesh (created in the same order on every rank, each over its own store prefix), all through one
 * {@link CollectivesProvider}: Gloo for CPU tensors unless told otherwise, NCCL for CUDA tensors.
 */
public final class ProcessGroups implements Peers, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ProcessGroups.class);
    private final Rendezvous rendezvous;
    private final PeerMonitor monitor;
    private final CollectivesProvider provider;
    private final Device device;
    private final BackendCollectives world;
    private final String host;
    private final Map<String, BackendCollectives> groups = new LinkedHashMap<>();
    private volatile boolean failedHere;

    private ProcessGroups(Rendezvous rendezvous, PeerMonitor monitor, CollectivesProvider provider, Device device,
                          BackendCollectives world, String host) {
        this.rendezvous = rendezvous;
        this.monitor = monitor;
        this.provider = provider;
        this.device = device;
        this.world = world;
        this.host = host;
    }

    /**
     * Decides this rank's device ({@link Device#forRank}: {@code AXOLOTL_DEVICE}, else {@code cuda:LOCAL_RANK}
     * when CUDA is usable, else the CPU), joins the rendezvous and connects the world group through the
     * collectives provider of that device's type; bounded by {@code timeout}.
     */
    public static ProcessGroups start(WorldSpec spec, Duration timeout, String runId) {
        Device device = Device.forRank(spec.localRank(), System.getenv());
        device.log(LOG, "rank " + spec.rank());
        return start(spec, timeout, runId, device, CollectivesProvider.forDevice(device.type()));
    }

    /**
     * Makes {@code device} the thread's current device, joins the rendezvous and connects the world group through
     * {@code provider} (every later mesh group uses it
     * too); bounded by {@code timeout}.
     */
    public static ProcessGroups start(WorldSpec spec, Duration timeout, String runId, Device device,
                                      CollectivesProvider provider) {
        Natives.useDevice(device);
        Rendezvous rv = Rendezvous.join(spec, timeout, runId);
        PeerMonitor monitor = new PeerMonitor(rv);
        String host = GlooCollectives.localAddressFor(spec.masterAddr(), spec.masterPort());
        try {
            BackendCollectives world = provider.create(new GroupRequest(rv.store(), "axolotl/" + runId + "/pg/world",
                    spec.rank(), spec.worldSize(), timeout, host, monitor::diagnose));
            return new ProcessGroups(rv, monitor, provider, device, world, host);
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

    /** This rank's device, with the reason it was chosen. */
    public Device device() {
        return device;
    }

    /** The backend every group of this run uses ({@code gloo}, {@code nccl}). */
    public String backend() {
        return provider.backend();
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
        return groups.computeIfAbsent(key, k -> provider.create(new GroupRequest(rendezvous.store(),
                "axolotl/" + rendezvous.runId() + "/pg/" + k, members.indexOf(rank), members.size(),
                rendezvous.timeout(), host, monitor::diagnose)));
    }

    @Override
    public void preflight(Map<String, String> facts) {
        Preflight.check(rendezvous, facts);
    }

    @Override
    public void agree(String point) {
        rendezvous.agree(point);
    }

    /**
     * Publishes the first line of this rank's failure (the other ranks name it with that line at their next wait;
     * native messages carry C++ frames below it) and skips the closing barrier: the others are not coming to it.
     */
    @Override
    public void reportFailure(String message) {
        failedHere = true;
        LOG.debug("rank {} reports its failure to the other ranks: {}", spec().rank(), message);
        rendezvous.publishFailure(message == null ? null : message.lines().findFirst().orElse(""));
    }

    @Override
    public void progress(long step) {
        monitor.progress(step);
    }

    @Override
    public void close() {
        // keeps rank 0's store up until every rank is done with it; skipped when this rank failed or a group
        // already failed (the peers are gone or stuck in the failed operation, and waiting for them only delays
        // the error)
        boolean collectiveBroke = world.failed() || groups.values().stream().anyMatch(BackendCollectives::failed);
        boolean anyFailed = failedHere || collectiveBroke;
        if (collectiveBroke) {
            rendezvous.skipFailureGrace(); // the peers are gone or see the same break: nothing to wait for
        }
        if (!anyFailed) {
            world.barrierBeforeClose();
        }
        groups.values().forEach(BackendCollectives::close);
        world.close();
        monitor.close();
        rendezvous.close();
    }
}
