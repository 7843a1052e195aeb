package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file one tensor at a time: the header (every name, dtype, shape and byte range) is written
 * when the file is opened, from the declared entries, and each tensor's bytes are appended as it arrives, in the
 * declared order. So a file can be written from tensors that exist one at a time (a sharded model gathered
 * parameter by parameter) without ever holding them all.
 */
public final class SafetensorsWriter implements AutoCloseable {
    private final Path file;
    private final FileChannel channel;
    private final List<String> names;
    private final Map<String, long[]> shapes;
    private final DType dtype;
    private int next;

    /**
     * Creates (or replaces) {@code file} and writes its header.
     *
     * @param shapes every tensor's name and shape, in the order they will be written
     * @param dtype the type every tensor is stored in (each is converted on write)
     * @param metadata string metadata, or null
     */
    public SafetensorsWriter(Path file, Map<String, long[]> shapes, DType dtype, Map<String, String> metadata)
            throws IOException {
        this.file = file;
        this.names = new ArrayList<>(shapes.keySet());
        this.shapes = new LinkedHashMap<>(shapes);
        this.dtype = dtype;
        List<Safetensors.Declared> declared = new ArrayList<>();
        shapes.forEach((name, shape) -> declared.add(new Safetensors.Declared(name, dtype, shape)));
        ByteBuffer head = Safetensors.header(declared, metadata);
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
        writeFully(head);
    }

    /** True when {@code name} is the next tensor this file expects. */
    public boolean expects(String name) {
        return next < names.size() && names.get(next).equals(name);
    }

    /** True when every declared tensor has been written. */
    public boolean complete() {
        return next == names.size();
    }

    /** Appends the next declared tensor (converted to the file's dtype); its name and shape must match. */
    public void write(String name, Tensor t) throws IOException {
        if (!expects(name)) {
            throw new IllegalStateException(file + ": expected " + (complete() ? "no more tensors" : "'"
                    + names.get(next) + "'") + " but got '" + name + "'");
        }
        long[] shape = shapes.get(name);
        if (!Arrays.equals(shape, t.shape())) {
            throw new IllegalStateException(file + ": '" + name + "' was declared " + Arrays.toString(shape)
                    + " but has shape " + Arrays.toString(t.shape()));
        }
        try (Tensor d = t.detach(); Tensor host = d.cpu(); Tensor converted = host.to(dtype.scalarType());
             Tensor c = converted.contiguous()) {
            writeFully(Tensors.view(c));
        }
        next++;
    }

    /** Flushes to disk and closes; fails when a declared tensor was never written. */
    @Override
    public void close() throws IOException {
        try (FileChannel ch = channel) {
            if (!complete()) {
                throw new IllegalStateException(file + ": only " + next + " of " + names.size()
                        + " tensors were written (missing '" + names.get(next) + "')");
            }
            ch.force(true);
        }
    }

    private void writeFully(ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            channel.write(buf);
        }
    }
}
