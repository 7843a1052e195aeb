package ai.axolotl.data;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.ConfigLoader;
import ai.axolotl.runtime.Natives;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DataPipelineTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void byteTokenizerSavesATokenizerJsonThatHfTokenizersReadsToTheSameIds(@TempDir Path dir) throws Exception {
        ByteTokenizer bytes = new ByteTokenizer();
        bytes.save(dir);
        Natives.load();
        try (HfTokenizer hf = HfTokenizer.load(dir)) {
            for (String text : new String[] {"Hello, world!", "  two  spaces\nand tabs\t", "naïve café ✓ 日本",
                "Q: What is 3 plus 4? A: 7."}) {
                assertThat(hf.encode(text)).as(text).containsExactly(bytes.encode(text));
                assertThat(hf.decode(hf.encode(text))).isEqualTo(text);
            }
            assertThat(hf.bosId()).isEqualTo(ByteTokenizer.BOS);
            assertThat(hf.eosId()).isEqualTo(ByteTokenizer.EOS);
            assertThat(hf.padId()).isEqualTo(ByteTokenizer.PAD);
            assertThat(hf.vocabSize()).isEqualTo(ByteTokenizer.VOCAB);
        }
    }

    @Test
    void alpacaTrainsOnTheResponseOnly() {
        ByteTokenizer tok = new ByteTokenizer();
        var row = JSON.createObjectNode().put("instruction", "Add").put("input", "2 and 3").put("output", "5");
        Example e = new AlpacaFormat(false).tokenize(row, "t", tok, 1024).get(0);
        String prompt = String.format(AlpacaFormat.WITH_INPUT, "Add", "2 and 3");
        int promptLen = 1 + prompt.getBytes(StandardCharsets.UTF_8).length;
        assertThat(e.inputIds()[0]).isEqualTo(ByteTokenizer.BOS);
        assertThat(Arrays.copyOfRange(e.labels(), 0, promptLen)).containsOnly(-100);
        assertThat(Arrays.copyOfRange(e.labels(), promptLen, e.length())).containsExactly('5', ByteTokenizer.EOS);
        Example all = new AlpacaFormat(true).tokenize(row, "t", tok, 1024).get(0);
        assertThat(all.labels()).containsExactly(all.inputIds());
        assertThat(new AlpacaFormat(false).tokenize(row, "t", tok, 10)).as("too long: dropped").isEmpty();
    }

    @Test
    void completionSplitsLongTextIntoWindows() {
        ByteTokenizer tok = new ByteTokenizer();
        var row = JSON.createObjectNode().put("body", "abcdefghij");
        List<Example> ex = new CompletionFormat("body").tokenize(row, "t", tok, 4);
        assertThat(ex).hasSize(3);
        assertThat(ex.get(0).inputIds()).containsExactly(ByteTokenizer.BOS, 'a', 'b', 'c');
        assertThat(ex.get(2).inputIds()).containsExactly('h', 'i', 'j', ByteTokenizer.EOS);
        assertThatThrownBy(() -> new CompletionFormat("text").tokenize(row, "f.jsonl:3", tok, 4))
                .hasMessage("f.jsonl:3: expected a text field 'text' (type: completion)");
    }

    @Test
    void packingRestartsPositionsAndMasksSampleStarts() {
        Example a = new Example(new int[] {1, 2, 3}, new int[] {1, 2, 3});
        Example b = new Example(new int[] {4, 5}, new int[] {4, 5});
        Example c = new Example(new int[] {6, 7, 8}, new int[] {6, 7, 8});
        List<PackedRow> rows = RowPacker.pack(List.of(a, b, c), 6, true);
        assertThat(rows).hasSize(2);
        assertThat(rows.get(0).inputIds()).containsExactly(1, 2, 3, 4, 5);
        assertThat(rows.get(0).positionIds()).containsExactly(0, 1, 2, 0, 1);
        assertThat(rows.get(0).segmentIds()).containsExactly(1, 1, 1, 2, 2);
        assertThat(rows.get(0).labels()).containsExactly(-100, 2, 3, -100, 5);
        assertThat(MicroBatch.labelTokens(rows)).isEqualTo(3 + 2);
        assertThat(RowPacker.pack(List.of(a, b, c), 6, false)).hasSize(3);
    }

    @Test
    void pretokenizedRowsAreCheckedWithFileAndLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("tok.jsonl");
        Files.writeString(f, "{\"input_ids\": [1, 2, 3], \"labels\": [-100, 2, 3]}\n{\"input_ids\": [1, -2]}\n");
        List<DatasetFiles.Row> rows = DatasetFiles.read(f);
        PretokenizedFormat p = new PretokenizedFormat();
        assertThat(p.tokenize(rows.get(0).json(), rows.get(0).where(), new ByteTokenizer(), 8).get(0).labels())
                .containsExactly(-100, 2, 3);
        assertThatThrownBy(() -> p.tokenize(rows.get(1).json(), rows.get(1).where(), new ByteTokenizer(), 8))
                .hasMessageContaining("tok.jsonl:2: input_ids[1] = -2 is negative");
        Files.writeString(f, "{\"input_ids\": [1, 2\n");
        assertThatThrownBy(() -> DatasetFiles.read(f)).hasMessageContaining("tok.jsonl:1: malformed JSON");
    }

    @Test
    void globalBatchesSplitOverRanksAsOneProcessWithAccumulation(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("d.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            lines.add("{\"text\": \"row " + i + " " + "x".repeat(i % 13) + "\"}");
        }
        Files.write(data, lines);
        Files.createDirectories(dir.resolve("m"));
        String yaml = "base_model: " + dir.resolve("m") + "\ndatasets:\n  - path: " + data + "\n    type: completion\n"
                + "sequence_len: 32\nmicro_batch_size: 2\ngradient_accumulation_steps: 4\nlearning_rate: 0.1\n"
                + "val_set_size: 0.1\nseed: 5\n";
        Files.writeString(dir.resolve("c.yml"), yaml);
        AxolotlConfig one = ConfigLoader.load(dir.resolve("c.yml"), Map.of()).config();
        AxolotlConfig two = ConfigLoader.load(dir.resolve("c.yml"), Map.of("gradient_accumulation_steps", "2"))
                .config();
        TokenizedDataset ds = TokenizedDataset.load(one, new ByteTokenizer(), 300);
        TrainingData single = new TrainingData(one, ds, 1);
        TrainingData split = new TrainingData(two, ds, 2);
        assertThat(single.valRows()).hasSize(10);
        assertThat(split.stepsPerEpoch()).isEqualTo(single.stepsPerEpoch());
        for (int step = 0; step < 3 * single.stepsPerEpoch(); step++) {
            List<PackedRow> a = new ArrayList<>();
            for (int m = 0; m < 4; m++) {
                a.addAll(single.microBatch(step, 0, m));
            }
            List<PackedRow> b = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                for (int m = 0; m < 2; m++) {
                    b.addAll(split.microBatch(step, r, m));
                }
            }
            assertThat(b.stream().map(r -> Arrays.toString(r.inputIds())).toList())
                    .isEqualTo(a.stream().map(r -> Arrays.toString(r.inputIds())).toList());
        }
        assertThat(single.globalBatch(0).get(0).inputIds())
                .isNotEqualTo(single.globalBatch(single.stepsPerEpoch()).get(0).inputIds());
        assertThat(ds.fingerprint()).hasSize(64).isEqualTo(TokenizedDataset.load(one, new ByteTokenizer(), 300)
                .fingerprint());
    }

    @Test
    void rowsWithNothingToTrainAreDroppedAndADatasetOfOnlySuchRowsIsRefused(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("p.jsonl");
        Files.writeString(data, "{\"input_ids\": [1, 2, 3], \"labels\": [-100, -100, -100]}\n"
                + "{\"input_ids\": [1, 2, 3], \"labels\": [1, -100, -100]}\n"
                + "{\"input_ids\": [4, 5, 6], \"labels\": [-100, 5, 6]}\n");
        Files.createDirectories(dir.resolve("m"));
        String yaml = "base_model: " + dir.resolve("m") + "\ndatasets:\n  - path: " + data + "\n"
                + "sequence_len: 32\nmicro_batch_size: 1\ngradient_accumulation_steps: 1\nlearning_rate: 0.1\n";
        Files.writeString(dir.resolve("c.yml"), yaml);
        AxolotlConfig c = ConfigLoader.load(dir.resolve("c.yml"), Map.of()).config();
        TokenizedDataset ds = TokenizedDataset.load(c, new ByteTokenizer(), 300);
        assertThat(ds.examples()).as("a label on the first token predicts nothing: that row trains nothing")
                .singleElement().satisfies(e -> assertThat(e.inputIds()).containsExactly(4, 5, 6));
        Files.writeString(data, "{\"input_ids\": [1, 2, 3], \"labels\": [-100, -100, -100]}\n");
        assertThatThrownBy(() -> TokenizedDataset.load(c, new ByteTokenizer(), 300)).isInstanceOf(DataException.class)
                .hasMessageStartingWith("datasets produced no example with a trained token");
    }

    @Test
    void aRowLongerThanJacksonsDefaultStringLimitIsRead(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("long.jsonl");
        String text = "a".repeat(21_000_000);
        Files.writeString(data, "{\"text\": \"" + text + "\"}\n");
        List<DatasetFiles.Row> rows = DatasetFiles.read(data);
        assertThat(rows.get(0).json().get("text").asText()).hasSize(21_000_000);
    }

    @Test
    void aMalformedTokenizerJsonIsOneLineNamingTheFile(@TempDir Path dir) throws Exception {
        Path tok = dir.resolve("tok");
        Files.createDirectories(tok);
        Files.writeString(tok.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": 12}}");
        assertThatThrownBy(() -> HfTokenizer.load(tok)).hasMessageStartingWith(tok.resolve("tokenizer.json")
                + " is not a tokenizer.json the tokenizers library can load: ").satisfies(e ->
                assertThat(e.getMessage()).doesNotContain("\n"));
        Files.writeString(tok.resolve("tokenizer.json"), "{\"model\": ");
        assertThatThrownBy(() -> HfTokenizer.load(tok)).hasMessage(tok.resolve("tokenizer.json")
                + " is not a tokenizer.json the tokenizers library can load: EOF while parsing a value at line 1 column "
                + "10");
    }
}
