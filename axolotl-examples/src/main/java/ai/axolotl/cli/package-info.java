/** The {@code axolotl} command line (picocli): train, validate, evaluate, bench. */
package ai.axolotl.cli;
