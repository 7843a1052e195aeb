/**
 * Launchers: ranks as threads of one JVM, or as local JVMs with the torchrun environment, one or many nodes; the
 * local launcher also chooses its rank JVMs' C allocator ({@link ai.axolotl.distributed.launch.RankAllocator}) and
 * passes SIGTERM/SIGINT on to them, waiting while they stop with a checkpoint.
 */
package ai.axolotl.distributed.launch;
