/** Launchers: ranks as threads of one JVM, or as local JVMs with the torchrun environment, one or many nodes. */
package ai.axolotl.distributed.launch;
