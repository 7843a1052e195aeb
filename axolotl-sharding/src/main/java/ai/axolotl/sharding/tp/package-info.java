/**
 * Tensor parallelism (Megatron layout, sequence parallel by default): {@link ai.axolotl.sharding.tp.TensorParallelRegions}
 * is what the model's layers call where they communicate over the tensor-parallel group,
 * {@link ai.axolotl.sharding.tp.VocabParallelLoss} the cross entropy over vocabulary-split logits, and
 * {@link ai.axolotl.sharding.tp.TensorParallelism} is the plan's model-parallel layer that applies both to a model;
 * the plan's data-parallel layer then places its slices over the rest of the mesh. Depends only on the collectives and mesh interfaces.
 */
package ai.axolotl.sharding.tp;
