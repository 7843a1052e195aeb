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
    private static final ObjectMapper JSON = new ObjectMapper();

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
                        || p.toString().endsWith(".csv")).sorted().forEach(files::add);
            } catch (IOException e) {
                throw new DataException(key + ".path: cannot list " + path + ": " + e.getMessage(), e);
            }
            if (files.isEmpty()) {
                throw new DataException(key + ".path: directory " + path + " has no .json, .jsonl or .csv files");
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
     * (each row an object of strings, as columns). Parquet is refused naming the file.
     */
    public static List<Row> read(Path file) {
        String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (name.endsWith(".parquet")) {
            throw new DataException(file + ": unsupported feature: Parquet files are not read yet (convert to JSON "
                    + "lines, e.g. with DuckDB: COPY (SELECT * FROM 'f.parquet') TO 'f.jsonl'; the Spark path reads "
                    + "Parquet into a DataFrame)");
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
