package ai.axolotl.distributed.gloo;

import ai.axolotl.distributed.BackendCollectives;
import ai.axolotl.distributed.CollectivesProvider;

/** Gloo for CPU tensors: always usable where libtorch loads. */
public final class GlooProvider implements CollectivesProvider {
    @Override
    public String backend() {
        return "gloo";
    }

    @Override
    public boolean carries(String deviceType) {
        return deviceType.equals("cpu");
    }

    @Override
    public String unusableBecause() {
        return null;
    }

    @Override
    public BackendCollectives create(GroupRequest r) {
        return GlooCollectives.create(r.store(), r.prefix(), r.rank(), r.size(), r.timeout(), r.host(),
                r.diagnosis());
    }
}
