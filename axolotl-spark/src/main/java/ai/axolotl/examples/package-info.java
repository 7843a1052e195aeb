/** The Spark example: {@link ai.axolotl.examples.SparkTrainingExample} trains a config's dataset in a Spark job. */
package ai.axolotl.examples;
