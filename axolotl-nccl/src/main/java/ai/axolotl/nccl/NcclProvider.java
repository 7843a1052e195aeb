package ai.axolotl.nccl;

import ai.axolotl.distributed.BackendCollectives;
import ai.axolotl.distributed.CollectivesProvider;
import ai.axolotl.runtime.Natives;

/** NCCL for CUDA tensors: usable in a CUDA build ({@code mvn -Pgpu}) on a machine with a GPU. */
public final class NcclProvider implements CollectivesProvider {
    @Override
    public String backend() {
        return "nccl";
    }

    @Override
    public boolean carries(String deviceType) {
        return deviceType.equals("cuda");
    }

    @Override
    public String unusableBecause() {
        return Natives.cudaAvailable() ? null
                : "this build or machine has no CUDA device (a CUDA build is mvn -Pgpu; the GPU needs its driver)";
    }

    @Override
    public BackendCollectives create(GroupRequest r) {
        NcclEnvironment.applyToThisProcess();
        return NcclCollectives.create(r.store(), r.prefix(), r.rank(), r.size(), r.timeout(), r.diagnosis());
    }
}
