/**
 * Training: the {@link ai.axolotl.train.Trainer} loop, unit-by-unit forward/backward with strategy hooks, the
 * optimizer and schedule, metrics, evaluation and atomic checkpoints; {@link ai.axolotl.train.TrainerBuilder} is
 * the entry point for programs that embed the library.
 */
package ai.axolotl.train;
