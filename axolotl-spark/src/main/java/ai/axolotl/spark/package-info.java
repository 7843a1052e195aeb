/**
 * Training inside a Spark job: {@link ai.axolotl.spark.SparkTraining} runs one barrier stage whose tasks are the
 * ranks of a distributed run, feeds it a DataFrame's rows through files under {@code output_dir}, and lets Spark's
 * stage retry restart every rank from the latest checkpoint. Depends on the core trainer and the sharding
 * strategies; nothing depends on it.
 */
package ai.axolotl.spark;
