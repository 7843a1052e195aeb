package ai.axolotl.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Rows of CSV and Parquet dataset files, as JSON objects the prompt formats read. */
class DatasetFormatsTest {
    @Test
    void parquetRowsKeepNestedListsOfStructsAndNumberTypes(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("train-00000-of-00001.parquet");
        try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement()) {
            s.execute("COPY (SELECT * FROM (VALUES "
                    + "([{'from': 'human', 'value': 'Hi ''there'''}, {'from': 'gpt', 'value': 'Héllo'}], 4.0, 1),"
                    + "([{'from': 'human', 'value': '2+2?'}, {'from': 'gpt', 'value': '4'}], 3.5, 2)"
                    + ") t(conversations, score, id)) TO '" + file + "' (FORMAT PARQUET, COMPRESSION ZSTD)");
        }
        List<DatasetFiles.Row> rows = DatasetFiles.read(file);
        assertThat(rows).hasSize(2);
        assertThat(rows.get(0).json().toString()).isEqualTo("{\"conversations\":[{\"from\":\"human\",\"value\":"
                + "\"Hi 'there'\"},{\"from\":\"gpt\",\"value\":\"Héllo\"}],\"score\":4.0,\"id\":1}");
        assertThat(rows.get(1).where()).isEqualTo(file + "[row 1]");
    }

    @Test
    void csvRowsAreObjectsOfTheirColumns(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("d.csv");
        Files.writeString(file, "instruction,output\n\"Add 2, 3\",5\nSay hi,\"hi \"\"you\"\"\"\n");
        List<DatasetFiles.Row> rows = DatasetFiles.read(file);
        assertThat(rows).hasSize(2);
        assertThat(rows.get(0).json().get("instruction").asText()).isEqualTo("Add 2, 3");
        assertThat(rows.get(1).json().get("output").asText()).isEqualTo("hi \"you\"");
        assertThat(rows.get(1).where()).isEqualTo(file + ":3");
    }

    @Test
    void aBrokenParquetFileIsOneLineNamingIt(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("bad.parquet");
        Files.writeString(file, "not parquet");
        assertThatThrownBy(() -> DatasetFiles.read(file)).isInstanceOf(DataException.class)
                .hasMessageStartingWith(file + ": cannot read Parquet: ")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }
}
