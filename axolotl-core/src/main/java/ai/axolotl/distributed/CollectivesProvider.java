package ai.axolotl.distributed;

import org.bytedeco.pytorch.Store;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.function.Supplier;

/**
 * A collectives backend as a service: Gloo (in {@code axolotl-sharding}) carries CPU tensors, NCCL (in
 * {@code axolotl-nccl}) carries CUDA tensors. Providers are found with {@link ServiceLoader}
 * ({@code META-INF/services/ai.axolotl.distributed.CollectivesProvider}); the process groups of a run create the
 * world and every mesh sub-group through the one provider chosen for the rank's device, so strategies never know
 * which backend moves their tensors.
 */
public interface CollectivesProvider {
    /** The backend's name as c10d spells it ({@code gloo}, {@code nccl}). */
    String backend();

    /** Whether this backend carries tensors of this device type ({@code cpu}, {@code cuda}). */
    boolean carries(String deviceType);

    /**
     * Why this process cannot create groups of this backend now (natives not loaded, no device), or null when it
     * can.
     */
    String unusableBecause();

    /** Creates one group; every member calls it with the same prefix. */
    BackendCollectives create(GroupRequest request);

    /**
     * What a group is made from.
     *
     * @param store the run's store (the provider makes its own client connection from it)
     * @param prefix store keys of this group (distinct per group and run)
     * @param rank this rank within the group
     * @param size members of the group
     * @param timeout bound on connecting and on every operation
     * @param host the address other ranks reach this one at
     * @param diagnosis names ranks at fault when an operation fails (may return "")
     */
    record GroupRequest(Store store, String prefix, int rank, int size, Duration timeout, String host,
                        Supplier<String> diagnosis) {}

    /** Every provider on the class path, in class-path order. */
    static List<CollectivesProvider> all() {
        List<CollectivesProvider> out = new ArrayList<>();
        ServiceLoader.load(CollectivesProvider.class, CollectivesProvider.class.getClassLoader()).forEach(out::add);
        return out;
    }

    /**
     * The provider that carries tensors of {@code deviceType} and is usable in this process.
     *
     * @throws CollectiveException naming the device and, for each provider that carries it, why it cannot be used
     *     (or that no module on the class path provides one)
     */
    static CollectivesProvider forDevice(String deviceType) {
        List<String> reasons = new ArrayList<>();
        for (CollectivesProvider p : all()) {
            if (!p.carries(deviceType)) {
                continue;
            }
            String why = p.unusableBecause();
            if (why == null) {
                return p;
            }
            reasons.add(p.backend() + ": " + why);
        }
        if (reasons.isEmpty()) {
            throw new CollectiveException("no collectives backend for " + deviceType + " tensors on the class path ("
                    + (deviceType.equals("cuda") ? "add axolotl-nccl" : "add axolotl-sharding") + ")");
        }
        throw new CollectiveException("no usable collectives backend for " + deviceType + " tensors: "
                + String.join("; ", reasons));
    }
}
