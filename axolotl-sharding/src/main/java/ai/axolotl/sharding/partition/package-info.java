/** Partitioning shared by ZeRO and FSDP2: parameters flattened, padded and split over data-parallel ranks. */
package ai.axolotl.sharding.partition;
