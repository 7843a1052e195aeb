/**
 * The distributed runtime's interfaces: {@link ai.axolotl.distributed.Collectives} (what a strategy may call),
 * {@link ai.axolotl.distributed.DeviceMesh} (how ranks are arranged), {@link ai.axolotl.distributed.WorldSpec}
 * (torchrun/SLURM environment) and timeouts. Gloo lives in axolotl-sharding, NCCL in axolotl-nccl.
 */
package ai.axolotl.distributed;
