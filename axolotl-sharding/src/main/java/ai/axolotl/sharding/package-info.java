/**
 * The composition of parallelisms: {@link ai.axolotl.sharding.ParallelPlan} is the multi-rank
 * {@link ai.axolotl.train.ShardingStrategy}; it applies a {@link ai.axolotl.sharding.ModelParallelLayer} (tensor
 * parallel in {@code .tp}; none by default) and then a {@link ai.axolotl.sharding.DataParallelLayer} (DDP in
 * {@code .ddp}, ZeRO in {@code .zero}, FSDP2 / HSDP in {@code .fsdp}, both over the engine in {@code .partition}).
 * A data-parallel layer implements its three concerns ({@link ai.axolotl.sharding.ParameterPlacement},
 * {@link ai.axolotl.sharding.GradientSync}, {@link ai.axolotl.sharding.StateCheckpoints}); the plan does the rest
 * once. {@link ai.axolotl.sharding.Strategies} builds the plan a config asks for. One parallelism per sub-package.
 */
package ai.axolotl.sharding;
