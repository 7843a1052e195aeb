package ai.axolotl.data;

import ai.axolotl.config.DatasetConfig;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Finds and reads the local JSON / JSON-lines files of one {@code datasets} entry. */
public final class DatasetFiles {
    /** Rows are read with no limit on a string's length (Jackson's default stops at 20 million characters). */
    private static final ObjectMapper JSON = new ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
            .streamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                    .maxStringLength(Integer.MAX_VALUE).build()).build());

    private DatasetFiles() {}

    /** A row with the place it came from. */
    public record Row(JsonNode json, String where) {}

    /** The files of a dataset entry, in a stable order. */
    public static List<Path> resolve(DatasetConfig d, int index) {
        String key = "datasets[" + index + "]";
        Path path = Path.of(d.path());
        if (!Files.exists(path)) {
            throw new DataException(key + ".path: '" + d.path() + "' does not exist");
        }
        List<Path> files = new ArrayList<>();
        if (d.dataFiles() != null) {
            Path base = Files.isDirectory(path) ? path : Path.of("");
            for (String f : d.dataFiles()) {
                Path p = base.resolve(f);
                if (!Files.isRegularFile(p)) {
                    throw new DataException(key + ".data_files: '" + p + "' is not a file");
                }
                files.add(p);
            }
        } else if (Files.isDirectory(path)) {
            try (Stream<Path> s = Files.list(path)) {
                s.filter(p -> p.toString().endsWith(".json") || p.toString().endsWith(".jsonl")
                        || p.toString().endsWith(".csv") || p.toString().endsWith(".parquet")).sorted()
                        .forEach(files::add);
            } catch (IOException e) {
                throw new DataException(key + ".path: cannot list " + path + ": " + e.getMessage(), e);
            }
            if (files.isEmpty()) {
                throw new DataException(key + ".path: directory " + path + " has no .json, .jsonl, .csv or .parquet files");
            }
        } else {
            files.add(path);
        }
        return files;
    }

    /** True when the file holds a JSON array (its first non-blank character is '['); false for JSON lines. */
    public static boolean isJsonArray(Path file) {
        try (BufferedReader r = Files.newBufferedReader(file)) {
            return firstNonBlank(r) == '[';
        } catch (IOException e) {
            throw new DataException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static int firstNonBlank(Reader r) throws IOException {
        int c;
        do {
            c = r.read();
        } while (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0xFEFF);
        return c;
    }

    /**
     * Reads rows: a JSON array of objects, or one JSON object per line; a {@code .csv} file with a header row
     * (each row an object of strings, as columns); a {@code .parquet} file through DuckDB's JDBC driver (each row
     * as DuckDB's {@code to_json} writes it: nested lists and structs as JSON arrays and objects).
     */
    public static List<Row> read(Path file) {
        String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (name.endsWith(".parquet")) {
            return readParquet(file);
        }
        if (name.endsWith(".csv")) {
            return readCsv(file);
        }
        List<Row> rows = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file)) {
            r.mark(1 << 16);
            int c = firstNonBlank(r);
            r.reset();
            if (c == '[') {
                JsonNode arr = JSON.readTree(r);
                int i = 0;
                for (JsonNode n : arr) {
                    i++;
                    rows.add(new Row(requireObject(n, file + "[" + (i - 1) + "]"), file + "[" + (i - 1) + "]"));
                }
            } else {
                String line;
                int lineNo = 0;
                while ((line = r.readLine()) != null) {
                    lineNo++;
                    if (line.isBlank()) {
                        continue;
                    }
                    String where = file + ":" + lineNo;
                    try {
                        rows.add(new Row(requireObject(JSON.readTree(line), where), where));
                    } catch (JsonProcessingException e) {
                        throw new DataException(where + ": malformed JSON: " + e.getOriginalMessage());
                    }
                }
            }
        } catch (JsonProcessingException e) {
            throw new DataException(file + ": malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
        return rows;
    }

    /**
     * Parquet rows through DuckDB's JDBC driver, found through {@code java.sql} at run time (the CLI bundles it;
     * an embedding program adds {@code org.duckdb:duckdb_jdbc}). Why DuckDB: a well-kept reader of every Parquet
     * encoding and compression with nested columns (FineTome's {@code conversations} is a list of structs), that
     * needs no Hadoop classes, which parquet-java does even for local files.
     */
    private static List<Row> readParquet(Path file) {
        List<Row> rows = new ArrayList<>();
        String sql = "SELECT to_json(t)::VARCHAR FROM read_parquet('"
                + file.toAbsolutePath().toString().replace("'", "''") + "') t";
        try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:duckdb:");
             java.sql.Statement s = c.createStatement();
             java.sql.ResultSet r = s.executeQuery(sql)) {
            int i = 0;
            while (r.next()) {
                String where = file + "[row " + i++ + "]";
                rows.add(new Row(requireObject(JSON.readTree(r.getString(1)), where), where));
            }
        } catch (java.sql.SQLException e) {
            if ("08001".equals(e.getSQLState()) || String.valueOf(e.getMessage()).contains("No suitable driver")) {
                throw new DataException(file + ": reading Parquet needs DuckDB's JDBC driver on the classpath "
                        + "(org.duckdb:duckdb_jdbc; the axolotl CLI bundles it)", e);
            }
            throw new DataException(file + ": cannot read Parquet: " + String.valueOf(e.getMessage()).lines()
                    .findFirst().orElse(""), e);
        } catch (JsonProcessingException e) {
            throw new DataException(file + ": a Parquet row did not convert to JSON: " + e.getOriginalMessage(), e);
        }
        return rows;
    }

    private static List<Row> readCsv(Path file) {
        List<Row> rows = new ArrayList<>();
        com.fasterxml.jackson.dataformat.csv.CsvMapper csv = new com.fasterxml.jackson.dataformat.csv.CsvMapper();
        com.fasterxml.jackson.dataformat.csv.CsvSchema schema =
                com.fasterxml.jackson.dataformat.csv.CsvSchema.emptySchema().withHeader();
        try (com.fasterxml.jackson.databind.MappingIterator<java.util.Map<String, String>> it =
                     csv.readerFor(java.util.Map.class).with(schema).readValues(file.toFile())) {
            int line = 1;
            while (it.hasNext()) {
                line++;
                rows.add(new Row(JSON.valueToTree(it.next()), file + ":" + line));
            }
        } catch (IOException | RuntimeException e) {
            throw new DataException(file + ": malformed CSV: " + e.getMessage(), e);
        }
        return rows;
    }

    private static JsonNode requireObject(JsonNode n, String where) {
        if (!n.isObject()) {
            throw new DataException(where + ": expected a JSON object per row");
        }
        return n;
    }
}
