package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw little-endian data.
 */
public final class Safetensors {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L * 1024 * 1024;

    private Safetensors() {}

    /**
     * Where one tensor lies in a file: its type, shape and byte range relative to the start of the data section
     * ({@code dataStart} bytes into the file).
     */
    public record Entry(String name, DType dtype, long[] shape, long begin, long end, long dataStart) {
        /** Elements of the tensor. */
        public long numel() {
            return (end - begin) / dtype.bytes();
        }
    }

    /** Every tensor's entry from a file's header, in header order; nothing else is read. */
    public static Map<String, Entry> entries(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return entries(ch, file);
        }
    }

    private static Map<String, Entry> entries(FileChannel ch, Path file) throws IOException {
        JsonNode header = readHeader(ch, file);
        long dataStart = 8 + headerLength(ch);
        Map<String, Entry> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            JsonNode info = e.getValue();
            DType dtype = DType.fromSafetensors(info.get("dtype").asText());
            JsonNode shapeNode = info.get("shape");
            long[] shape = new long[shapeNode.size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong();
                numel *= shape[i];
            }
            long begin = info.get("data_offsets").get(0).asLong();
            long end = info.get("data_offsets").get(1).asLong();
            if (end - begin != numel * dtype.bytes() || dataStart + end > ch.size()) {
                throw new IOException(file + ": tensor '" + e.getKey() + "' has inconsistent data_offsets");
            }
            out.put(e.getKey(), new Entry(e.getKey(), dtype, shape, begin, end, dataStart));
        }
        requireNoHoles(out, ch.size() - dataStart, file);
        return out;
    }

    /**
     * The format's rule: the tensors' byte ranges cover the data section exactly, without holes or overlaps (a
     * file that breaks it was cut, padded or written by a broken tool).
     */
    private static void requireNoHoles(Map<String, Entry> entries, long dataBytes, Path file) throws IOException {
        List<Entry> byOffset = new ArrayList<>(entries.values());
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long at = 0;
        for (Entry e : byOffset) {
            if (e.begin() > at) {
                throw new IOException(file + ": " + (e.begin() - at) + " bytes before tensor '" + e.name()
                        + "' belong to no tensor (a hole in the data; not a valid safetensors file)");
            }
            if (e.begin() < at && e.end() > e.begin()) {
                throw new IOException(file + ": tensor '" + e.name() + "' overlaps the tensor before it "
                        + "(data_offsets " + e.begin() + ".." + e.end() + ")");
            }
            at = Math.max(at, e.end());
        }
        if (at != dataBytes) {
            throw new IOException(file + ": " + (dataBytes - at) + " bytes after the last tensor belong to no "
                    + "tensor (a hole in the data; not a valid safetensors file)");
        }
    }

    /** Reads every tensor of a file, in header order. The caller owns (and closes) the tensors. */
    public static Map<String, Tensor> read(Path file) throws IOException {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            for (Entry e : entries(ch, file).values()) {
                ByteBuffer data = ch.map(FileChannel.MapMode.READ_ONLY, e.dataStart() + e.begin(),
                        e.end() - e.begin()).order(ByteOrder.LITTLE_ENDIAN);
                out.put(e.name(), Tensors.fromBytes(data, e.dtype().scalarType(), e.shape()));
            }
        }
        return out;
    }

    /**
     * Reads {@code into.numel()} elements of a tensor, starting at element {@code first} of its flattened data,
     * straight into {@code into}'s memory (a contiguous tensor of the entry's type): only those bytes are read.
     */
    public static void readRange(Path file, Entry entry, long first, Tensor into) throws IOException {
        long count = into.numel();
        if (first < 0 || first + count > entry.numel()) {
            throw new IOException(file + ": elements [" + first + ", " + (first + count) + ") are outside '"
                    + entry.name() + "' (" + entry.numel() + " elements)");
        }
        if (!Tensors.sameType(into.scalar_type(), entry.dtype().scalarType()) || !into.is_contiguous()) {
            throw new IllegalArgumentException("readRange needs a contiguous " + entry.dtype().torchName()
                    + " tensor");
        }
        if (!into.is_cpu()) { // a device tensor: read into a host copy of the range, then copy it over
            try (Tensor host = torch.empty(into.shape(), Tensors.options(into.scalar_type()), null)) {
                readRange(file, entry, first, host);
                into.copy_(host);
            }
            return;
        }
        ByteBuffer dst = Tensors.view(into);
        long position = entry.dataStart() + entry.begin() + first * entry.dtype().bytes();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (dst.hasRemaining()) {
                int n = ch.read(dst, position);
                if (n < 0) {
                    throw new IOException(file + ": ends inside '" + entry.name() + "'");
                }
                position += n;
            }
        }
    }

    /**
     * Entries {@code [from, from + len)} along dimension {@code dim} of a tensor, in its stored type with that
     * dimension cut; only the slice's bytes are read (one byte range per contiguous run). The caller closes it.
     */
    public static Tensor readSlice(Path file, Entry entry, int dim, long from, long len) throws IOException {
        long[] cut = SliceRuns.shape(entry.shape(), dim, len);
        Tensor out = torch.empty(cut, Tensors.options(entry.dtype().scalarType()), null);
        try (Tensor flat = out.view(-1)) {
            SliceRuns.forEach(entry.shape(), dim, from, len, (source, length, target) -> {
                try (Tensor dst = flat.narrow(0, target, length)) {
                    readRange(file, entry, source, dst);
                }
            });
        }
        return out;
    }

    /** The {@code __metadata__} map of a file (empty when absent). */
    public static Map<String, String> metadata(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            JsonNode meta = readHeader(ch, file).get("__metadata__");
            Map<String, String> out = new LinkedHashMap<>();
            if (meta != null) {
                meta.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
            }
            return out;
        }
    }

    private static long headerLength(FileChannel ch) throws IOException {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        ch.read(len, 0);
        len.flip();
        return len.getLong();
    }

    private static JsonNode readHeader(FileChannel ch, Path file) throws IOException {
        if (ch.size() < 8) {
            throw new IOException(file + ": not a safetensors file (too short)");
        }
        long n = headerLength(ch);
        if (n <= 0 || n > MAX_HEADER || 8 + n > ch.size()) {
            throw new IOException(file + ": not a safetensors file (bad header length " + n + ")");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) n);
        ch.read(buf, 8);
        return JSON.readTree(new String(buf.array(), StandardCharsets.UTF_8).trim());
    }

    /** Writes tensors (in map order) with optional string metadata. The file is replaced, not appended. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        List<Declared> declared = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            declared.add(new Declared(e.getKey(), DType.of(e.getValue().scalar_type()), e.getValue().shape()));
        }
        ByteBuffer head = header(declared, metadata);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, head);
            for (Tensor t : tensors.values()) {
                try (Tensor host = t.detach().cpu(); Tensor c = host.contiguous()) {
                    writeFully(ch, Tensors.view(c));
                }
            }
            ch.force(true);
        }
    }

    /** One tensor a header declares, in file order. */
    record Declared(String name, DType dtype, long[] shape) {}

    /**
     * The 8-byte length and the JSON header (space-padded to a multiple of 8) for tensors laid out back to back in
     * the given order, ready to be written at offset 0.
     */
    static ByteBuffer header(List<Declared> tensors, Map<String, String> metadata) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Declared d : tensors) {
            ObjectNode info = header.putObject(d.name());
            info.put("dtype", d.dtype().safetensorsName());
            ArrayNode shape = info.putArray("shape");
            long n = d.dtype().bytes();
            for (long dim : d.shape()) {
                shape.add(dim);
                n *= dim;
            }
            info.putArray("data_offsets").add(offset).add(offset + n);
            offset += n;
        }
        byte[] headerBytes = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (headerBytes.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded);
        head.put(headerBytes);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        return head;
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
