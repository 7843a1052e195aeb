/**
 * Context parallelism: each row of a micro-batch is cut along the sequence over the {@code cp} ranks (head-tail
 * load balancing, {@link ai.axolotl.sharding.cp.HeadTailSharder}), and each attention layer gathers the key/value
 * heads of the whole row over the cp group ({@link ai.axolotl.sharding.cp.GatheredKvAttention}); weights are not
 * sliced. {@link ai.axolotl.sharding.cp.ContextParallelism} is the plan's slot between tensor parallel and the
 * data-parallel layer, whose gradient group spans cp.
 */
package ai.axolotl.sharding.cp;
