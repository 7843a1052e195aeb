/** Data parallel (DDP): whole model per rank, bucketed gradient all-reduce overlapped with backward. */
package ai.axolotl.sharding.ddp;
