package ai.axolotl.spark;

import ai.axolotl.config.DatasetConfig;
import ai.axolotl.train.Checkpoints;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;

/**
 * Brings a DataFrame's rows to the ranks without collecting them on the driver: one ordinary Spark job writes
 * every partition, as JSON lines of the columns the dataset entry reads, to {@code <output_dir>/spark-input/
 * part-NNNNN.jsonl} (written to a temporary name, then renamed); the ranks read the union in partition order
 * through the same dataset reader as {@code axolotl train}. So a DataFrame read from a JSON-lines file trains on
 * exactly the rows, in the order, that the file gives the CLI.
 */
final class DataFrameInput {
    /** The directory under {@code output_dir} that holds the written partitions. */
    static final String DIR = "spark-input";

    private DataFrameInput() {}

    /**
     * Writes {@code rows} for the ranks.
     *
     * @param rows the training rows
     * @param dataset the config's dataset entry, which names the columns
     * @param outputDir the run's output directory (shared by the driver and every executor)
     * @return what was written
     */
    static InputManifest write(Dataset<Row> rows, DatasetConfig dataset, Path outputDir) {
        List<String> columns = InputColumns.of(dataset).select(rows.schema());
        Path dir = outputDir.resolve(DIR).toAbsolutePath();
        try {
            if (Files.exists(dir)) {
                Checkpoints.deleteTree(dir);
            }
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new SparkTrainingException("output_dir: cannot prepare " + dir + ": " + e.getMessage(), e);
        }
        Dataset<String> json = rows.selectExpr(columns.stream().map(c -> "`" + c + "`").toArray(String[]::new))
                .toJSON();
        SparkContext sc = rows.sparkSession().sparkContext();
        sc.setJobDescription("axolotl-java: write the training rows to " + dir);
        List<InputManifest.Part> parts;
        try {
            parts = new ArrayList<>(
                    json.javaRDD().mapPartitionsWithIndex(new PartitionWriter(dir.toString()), false).collect());
        } finally {
            sc.setJobDescription(null);
        }
        parts.sort(Comparator.comparingInt(InputManifest.Part::partition));
        if (parts.isEmpty()) {
            throw new SparkTrainingException("the DataFrame has no rows to train on");
        }
        return new InputManifest(dir.toString(), List.copyOf(parts));
    }

    /** Writes one partition's JSON lines and reports the file. Runs on the executors. */
    static final class PartitionWriter implements Function2<Integer, Iterator<String>, Iterator<InputManifest.Part>> {
        private static final long serialVersionUID = 1L;
        private final String dir;

        PartitionWriter(String dir) {
            this.dir = dir;
        }

        @Override
        public Iterator<InputManifest.Part> call(Integer partition, Iterator<String> lines) {
            if (!lines.hasNext()) {
                return List.<InputManifest.Part>of().iterator();
            }
            String name = String.format("part-%05d.jsonl", partition);
            Path target = Path.of(dir, name);
            Path tmp = Path.of(dir, name + ".tmp-" + Thread.currentThread().getId());
            MessageDigest md = InputManifest.digest();
            long rows = 0;
            try {
                try (BufferedWriter w = new BufferedWriter(new OutputStreamWriter(
                        new DigestOutputStream(Files.newOutputStream(tmp), md), StandardCharsets.UTF_8))) {
                    while (lines.hasNext()) {
                        w.write(lines.next());
                        w.write('\n');
                        rows++;
                    }
                }
                long bytes = Files.size(tmp);
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                return List.of(new InputManifest.Part(partition, name, rows, bytes,
                        HexFormat.of().formatHex(md.digest()))).iterator();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
            }
        }
    }
}
