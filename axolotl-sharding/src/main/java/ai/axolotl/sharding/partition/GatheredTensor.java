package ai.axolotl.sharding.partition;

import ai.axolotl.distributed.CollectiveWork;
import ai.axolotl.distributed.Collectives;

/**
 * A tensor of the model spread over the shard group and gathered, in place, around the units that read it: a
 * trainable parameter ({@link ShardedParameter}) or a unit's frozen tensors ({@link FrozenGroup}). The unit hooks
 * gather, prefetch and free both alike.
 */
interface GatheredTensor {
    /** The name the unit knows it by. */
    String name();

    /** Elements of the whole tensor (the prefetch and live budgets count these). */
    long numel();

    /** True when the tensor always stays whole in the model (never freed). */
    boolean keepsFull();

    /** True while the whole tensor's values are in the model's tensor. */
    boolean present();

    /** Bytes the gathered tensor's storage holds now, read from the storage (0 while freed). */
    long heldGatheredBytes();

    /** Starts gathering every rank's part into the model's tensor's own storage (allocated again if freed). */
    CollectiveWork startGather(Collectives group);

    /** Waits for a gather started by {@link #startGather}. */
    void install(CollectiveWork gather);

    /** Frees the gathered storage in place (its identity kept, zero bytes) until the next gather. */
    void free();
}
