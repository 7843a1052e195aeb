package ai.axolotl.config;

import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.Pattern;

import java.io.Serializable;
import java.util.List;

/**
 * One entry of {@code datasets}.
 *
 * @param path local file or directory of JSON/JSONL/CSV rows, or a Hugging Face Hub dataset id
 * @param type {@code completion}, {@code alpaca}, or null for pre-tokenized rows ({@code input_ids} [+ labels])
 * @param field for completion, the text field (default {@code text})
 * @param dsType file format: {@code json} (JSON array or JSON lines)
 * @param dataFiles files to read, relative to {@code path} when it is a directory; null: every .json/.jsonl
 * @param split which rows, in Hugging Face datasets' slice grammar ({@code train}, {@code train[:20%]}, ...)
 * @param chat for {@code type: chat_template}, its keys; otherwise null
 * @param name for a Hub dataset, its configuration: the folder of the repository whose files are read
 * @param revision for a Hub dataset, the branch, tag or commit (null: main)
 */
public record DatasetConfig(
        @NotBlank String path,
        @Pattern(regexp = "completion|alpaca|chat_template|pretokenized", message = "must be one of completion, "
                + "alpaca, chat_template, pretokenized (or absent for rows with input_ids)") String type,
        String field,
        @Pattern(regexp = "json|jsonl", message = "must be json (JSON array or JSON lines)") String dsType,
        List<String> dataFiles,
        String split,
        ChatDataset chat,
        String name,
        String revision) implements Serializable {

    /** Normalises defaults. */
    public DatasetConfig {
        dataFiles = dataFiles == null ? null : List.copyOf(dataFiles);
        split = split == null ? "train" : split;
    }

    /** A dataset of every row of its files, not a chat dataset. */
    public DatasetConfig(String path, String type, String field, String dsType, List<String> dataFiles) {
        this(path, type, field, dsType, dataFiles, "train", null, null, null);
    }
}
