/** Gloo (CPU) process groups over the rendezvous store, with heartbeats that name dead or hung ranks. */
package ai.axolotl.distributed.gloo;
