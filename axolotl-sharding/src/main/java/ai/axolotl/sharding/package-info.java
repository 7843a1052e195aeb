/**
 * Sharding strategies: {@link ai.axolotl.sharding.ShardingStrategy} is the base every multi-rank strategy extends;
 * {@link ai.axolotl.sharding.Strategies} chooses one from the config. One strategy per sub-package.
 */
package ai.axolotl.sharding;
