package ai.axolotl.sharding.partition;

import ai.axolotl.model.Safetensors;
import ai.axolotl.model.SliceRuns;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.train.TrainingException;
import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The partition files of a sharded checkpoint, read by element range. Every saved tensor ({@code kind/name}) is
 * a flat tensor padded to {@code world x chunk} elements, saved rank r holding elements
 * {@code [r*chunk, (r+1)*chunk)}; a partition for another world size or layout is the same flat range cut
 * differently, so it is assembled from the overlapping byte ranges of the files that hold it. Headers are read
 * once per file, and only the files that overlap a request are opened.
 */
final class SavedPartitions {
    private final Path dir;
    private final int world;
    private final Map<String, Long> chunks = new HashMap<>();
    private final Map<String, Long> numels = new HashMap<>();
    private final Map<Integer, Map<String, Safetensors.Entry>> headers = new HashMap<>();
    private long bytesRead;

    SavedPartitions(Path dir, JsonNode meta) {
        this.dir = dir;
        this.world = meta.get("world").asInt();
        for (JsonNode p : meta.get("params")) {
            chunks.put(p.get("name").asText(), p.get("chunk").asLong());
            numels.put(p.get("name").asText(), p.get("numel").asLong());
        }
    }

    /**
     * Fills {@code into} (a contiguous fp32 tensor of {@code chunk} elements) with partition {@code rank} of
     * {@code key} cut at {@code chunk} elements per rank; the padding past the tensor's end is zero.
     */
    void readPartition(String key, int rank, long chunk, Tensor into) throws IOException {
        String name = key.substring(key.indexOf('/') + 1);
        long numel = numel(name);
        if (into.numel() != chunk) {
            throw new TrainingException(dir + ": partition of '" + key + "' expected " + chunk + " elements");
        }
        into.zero_();
        long start = Math.min(numel, rank * chunk);
        long end = Math.min(numel, start + chunk);
        readInto(key, name, start, end, into, start);
    }

    /**
     * Fills {@code into} with partition {@code rank} of a tensor laid out {@code 1/divisor} as densely as its
     * parameter (a low-bit moment's codes: 1 for 8-bit, 2 for packed 4-bit; its block absmax: 256), cut at
     * {@code into.numel()} entries per rank from the saved partitions of {@code savedChunk / divisor} entries;
     * entries past {@code numel} are zero.
     */
    void readScaledPartition(String key, String name, int rank, Tensor into, long divisor, long numel)
            throws IOException {
        long chunk = into.numel();
        long saved = chunks.get(name) / divisor;
        into.zero_();
        long start = Math.min(numel, rank * chunk);
        long end = Math.min(numel, start + chunk);
        readInto(key, saved, start, end, into, start);
    }

    /** The whole tensor {@code key}, flat, assembled from every file (the caller closes it). */
    Tensor readWhole(String key) throws IOException {
        String name = key.substring(key.indexOf('/') + 1);
        long numel = numel(name);
        Tensor full = Tensors.zeros(numel);
        readInto(key, name, 0, numel, full, 0);
        return full;
    }

    /**
     * Entries {@code [from, from + len)} along dimension {@code dim} of tensor {@code key} (saved shape
     * {@code shape}), flat: {@code prod(shape[0..dim))} runs of {@code len x prod(shape(dim..])} elements, each read
     * by byte range, so only the slice's bytes are read (the caller closes it).
     */
    Tensor readSlice(String key, long[] shape, int dim, long from, long len) throws IOException {
        String name = key.substring(key.indexOf('/') + 1);
        Tensor out = Tensors.zeros(SliceRuns.numel(shape, dim, len));
        SliceRuns.forEach(shape, dim, from, len, (source, length, target) -> {
            try (Tensor dst = out.narrow(0, target, length)) {
                readInto(key, name, source, source + length, dst, source);
            }
        });
        return out;
    }

    /** Bytes read from the partition files so far. */
    long bytesRead() {
        return bytesRead;
    }

    /** Reads global elements [start, end) of {@code key} into {@code into}, whose element 0 is global {@code base}. */
    private void readInto(String key, String name, long start, long end, Tensor into, long base) throws IOException {
        readInto(key, chunks.get(name), start, end, into, base);
    }

    private void readInto(String key, long saved, long start, long end, Tensor into, long base) throws IOException {
        for (int r = 0; r < world && start < end; r++) {
            long lo = Math.max(start, r * saved);
            long hi = Math.min(end, (r + 1) * saved);
            if (lo >= hi) {
                continue;
            }
            Safetensors.Entry entry = header(r).get(key);
            if (entry == null) {
                throw new TrainingException(dir + ": rank " + r + "'s partition file has no '" + key + "'");
            }
            try (Tensor dst = into.narrow(0, lo - base, hi - lo)) {
                Safetensors.readRange(file(r), entry, lo - r * saved, dst);
                bytesRead += dst.nbytes();
            }
        }
    }

    private long numel(String name) {
        Long n = numels.get(name);
        if (n == null) {
            throw new TrainingException(dir + ": the checkpoint has no parameter '" + name + "' (meta.json)");
        }
        return n;
    }

    private Path file(int rank) {
        return dir.resolve("rank" + rank + ".safetensors");
    }

    private Map<String, Safetensors.Entry> header(int rank) throws IOException {
        Map<String, Safetensors.Entry> h = headers.get(rank);
        if (h == null) {
            Path f = file(rank);
            if (!Files.isRegularFile(f)) {
                throw new TrainingException(dir + ": the partition of rank " + rank + " is missing (" + f + ")");
            }
            h = Safetensors.entries(f);
            headers.put(rank, h);
        }
        return h;
    }
}
