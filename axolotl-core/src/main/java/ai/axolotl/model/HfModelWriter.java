package ai.axolotl.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a Hugging Face model directory ({@code config.json}, {@code model.safetensors}, or
 * {@code model-0000i-of-0000n.safetensors} files with an index past {@code maxShardBytes}) from weights that
 * arrive one at a time in the declared order: each file's header is written from the declared shapes, each
 * weight is appended as it arrives, and nothing is held beyond the weight being written. It is a
 * {@link WeightSink}.
 *
 * <p>Each file is written under a temporary name and renamed into place only when every weight has arrived, the
 * weight files first and {@code config.json} last: an export that fails (a full disk, a failed rank) leaves the
 * directory's previous model files as they were and removes its temporary files.
 */
public final class HfModelWriter implements WeightSink, AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path dir;
    private final DType dtype;
    private final List<Map<String, long[]>> files = new ArrayList<>();
    private final List<String> fileNames = new ArrayList<>();
    private final long totalBytes;
    private final ModelConfig config;
    /** Makes this writer's temporary names its own (writers into one directory do not collide). */
    private final String token = Long.toHexString(System.nanoTime()) + "-" + Thread.currentThread().getId();
    private int fileIndex = -1;
    private SafetensorsWriter current;
    private boolean failed;

    /**
     * @param dir the model directory (created)
     * @param config the model's config (written with {@code torch_dtype} set to {@code dtype})
     * @param shapes every weight's name and full shape, in the order they will arrive
     * @param dtype the stored type
     * @param maxShardBytes the most bytes per safetensors file
     */
    public HfModelWriter(Path dir, ModelConfig config, Map<String, long[]> shapes, DType dtype, long maxShardBytes)
            throws IOException {
        this.dir = dir;
        this.dtype = dtype;
        this.config = config.withTorchDtype(dtype.torchName());
        Files.createDirectories(dir);
        Map<String, long[]> file = new LinkedHashMap<>();
        long fileBytes = 0;
        long total = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long bytes = dtype.bytes();
            for (long d : e.getValue()) {
                bytes *= d;
            }
            if (!file.isEmpty() && fileBytes + bytes > maxShardBytes) {
                files.add(file);
                file = new LinkedHashMap<>();
                fileBytes = 0;
            }
            file.put(e.getKey(), e.getValue());
            fileBytes += bytes;
            total += bytes;
        }
        files.add(file);
        this.totalBytes = total;
        for (int i = 0; i < files.size(); i++) {
            fileNames.add(files.size() == 1 ? HfCheckpoint.WEIGHTS
                    : String.format("model-%05d-of-%05d.safetensors", i + 1, files.size()));
        }
    }

    /** The temporary name a file is written under until the export is complete. */
    private Path temporary(String fileName) {
        return dir.resolve(".tmp-export-" + token + "-" + fileName);
    }

    @Override
    public void accept(String name, Tensor weight) throws IOException {
        try {
            write(name, weight);
        } catch (IOException | RuntimeException e) {
            failed = true;
            throw e;
        }
    }

    private void write(String name, Tensor weight) throws IOException {
        if (current == null || current.complete()) {
            if (current != null) {
                current.close();
            }
            fileIndex++;
            if (fileIndex >= files.size()) {
                throw new IllegalStateException(dir + ": '" + name + "' arrived after every declared weight");
            }
            current = new SafetensorsWriter(temporary(fileNames.get(fileIndex)), files.get(fileIndex), dtype,
                    Map.of("format", "pt"));
        }
        current.write(name, weight);
    }

    /**
     * Closes the last file and, when every weight arrived, renames the files into place, writes the index when
     * there are several files (or removes a stale one) and {@code config.json} last; otherwise removes the
     * temporary files and leaves the directory as it was.
     */
    @Override
    public void close() throws IOException {
        boolean lastComplete = current == null || current.complete();
        if (current != null) {
            try {
                current.close();
            } catch (IllegalStateException incomplete) {
                // reported below, after the temporary files are removed
            }
        }
        if (failed || !lastComplete || fileIndex != files.size() - 1) {
            for (String name : fileNames) {
                Files.deleteIfExists(temporary(name));
            }
            if (failed) {
                return; // the weight stream's own error is what the caller sees
            }
            throw new IllegalStateException(dir + ": " + (fileIndex + 1) + " of " + files.size()
                    + " weight files were written; the previous files are left as they were");
        }
        for (String name : fileNames) {
            Files.move(temporary(name), dir.resolve(name), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
        }
        if (files.size() == 1) {
            Files.deleteIfExists(dir.resolve(HfCheckpoint.INDEX));
        } else {
            Map<String, Object> weightMap = new LinkedHashMap<>();
            for (int i = 0; i < files.size(); i++) {
                for (String k : files.get(i).keySet()) {
                    weightMap.put(k, fileNames.get(i));
                }
            }
            Map<String, Object> index = new LinkedHashMap<>();
            index.put("metadata", Map.of("total_size", totalBytes));
            index.put("weight_map", weightMap);
            Path tmp = temporary(HfCheckpoint.INDEX);
            Files.writeString(tmp, JSON.writeValueAsString(index));
            Files.move(tmp, dir.resolve(HfCheckpoint.INDEX), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            Files.deleteIfExists(dir.resolve(HfCheckpoint.WEIGHTS));
        }
        Path tmp = temporary(HfCheckpoint.CONFIG);
        config.write(tmp);
        Files.move(tmp, dir.resolve(HfCheckpoint.CONFIG), StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
    }
}
