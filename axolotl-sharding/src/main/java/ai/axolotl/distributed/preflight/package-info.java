/** Preflight: every rank checks it runs the same config, version and data as rank 0 before step 1. */
package ai.axolotl.distributed.preflight;
