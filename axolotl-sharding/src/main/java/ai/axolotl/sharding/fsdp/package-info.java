/** FSDP2: per-parameter dim-0 sharding per wrap unit, reshard after forward or not, HSDP, sharded checkpoints. */
package ai.axolotl.sharding.fsdp;
