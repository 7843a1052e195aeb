/** Sharding strategies that spread a training step over ranks through c10d collectives. */
package ai.axolotl.sharding;
