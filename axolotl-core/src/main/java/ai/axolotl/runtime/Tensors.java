package ai.axolotl.runtime;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Small helpers over the libtorch bindings that the rest of the library shares. */
public final class Tensors {
    private Tensors() {}

    /** Options for a tensor of the given element type on the CPU. */
    public static TensorOptions options(ScalarType type) {
        return new TensorOptions(type);
    }

    /** Options for a tensor of the given element type on {@code device}. */
    public static TensorOptions options(ScalarType type, Device device) {
        try (org.bytedeco.pytorch.Device d = device.toTorch()) {
            return new TensorOptions(type).device(new DeviceOptional(d));
        }
    }

    /** Options for a tensor of the given element type on the device {@code like} is on. */
    public static TensorOptions optionsOn(ScalarType type, Tensor like) {
        try (org.bytedeco.pytorch.Device d = like.device()) {
            return new TensorOptions(type).device(new DeviceOptional(d));
        }
    }

    /**
     * A zero-dimensional tensor holding {@code v} rounded to {@code like}'s element type, on its device: what a
     * Python float becomes when multiplied into a tensor after {@code torch.tensor(v).to(dtype)}.
     */
    public static Tensor scalarLike(double v, Tensor like) {
        return torch.full(new long[0], new Scalar(v), optionsOn(like.scalar_type(), like));
    }

    /** A zero-filled float32 tensor of the given shape. */
    public static Tensor zeros(long... shape) {
        return torch.empty(shape, options(ScalarType.Float), null).zero_();
    }

    /** A zero-filled float32 tensor of the given shape on the device {@code like} is on. */
    public static Tensor zerosOn(Tensor like, long... shape) {
        return torch.empty(shape, optionsOn(ScalarType.Float, like), null).zero_();
    }

    /** The device a tensor is on, as {@link Device#name()} writes it ({@code cpu}, {@code cuda:0}, {@code meta}). */
    public static String deviceName(Tensor t) {
        try (org.bytedeco.pytorch.Device d = t.device(); BytePointer name = d.str()) {
            return name.getString();
        }
    }

    /**
     * {@code t} on {@code device}, same type: a copy when it is elsewhere, else a new handle on the same tensor;
     * the caller closes the result (and still owns {@code t}).
     */
    public static Tensor to(Tensor t, Device device) {
        try (org.bytedeco.pytorch.Device d = device.toTorch()) {
            return t.to(d, t.scalar_type());
        }
    }

    /**
     * Takes {@code p} out of the innermost {@link PointerScope} it was attached to when made, so that the scope's
     * end does not free it: the caller owns it and must {@code close()} it. For objects whose life crosses a
     * scope boundary by design (a collective in flight over a micro-batch's end, a strategy's buffers).
     */
    public static <P extends Pointer> P unscoped(P p) {
        PointerScope scope = PointerScope.getInnerScope();
        if (scope != null) {
            p.retainReference(); // detach releases one reference; keep the one the caller now owns
            scope.detach(p);
        }
        return p;
    }

    /** A scalar wrapper for arithmetic with tensors. */
    public static Scalar scalar(double v) {
        return new Scalar(v);
    }

    /** A long tensor copied from a Java array, with the given shape. */
    public static Tensor longs(long[] values, long... shape) {
        return Tensor.create(values, shape);
    }

    /** A float tensor copied from a Java array, with the given shape. */
    public static Tensor floats(float[] values, long... shape) {
        return Tensor.create(values, shape);
    }

    /** Copies a tensor's elements (any shape and device, converted to int64) into a Java array. */
    public static long[] toLongArray(Tensor t) {
        try (Tensor host = t.detach().cpu(); Tensor c = host.to(ScalarType.Long).contiguous()) {
            long[] out = new long[(int) c.numel()];
            c.data_ptr_long().get(out);
            return out;
        }
    }

    /** Copies a tensor's elements (any shape and device, converted to float32) into a Java array. */
    public static float[] toFloatArray(Tensor t) {
        try (Tensor host = t.detach().cpu(); Tensor c = host.to(ScalarType.Float).contiguous()) {
            float[] out = new float[(int) c.numel()];
            c.data_ptr_float().get(out);
            return out;
        }
    }

    /**
     * The raw bytes of a contiguous host copy of {@code t}, little-endian as in memory (a device tensor is copied to
     * the host first, one tensor at a time: checkpoints and exports stream through this).
     */
    public static byte[] toBytes(Tensor t) {
        try (Tensor host = t.detach().cpu(); Tensor c = host.contiguous()) {
            long n = c.nbytes();
            if (n > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("tensor too large for one byte array: " + n + " bytes");
            }
            byte[] out = new byte[(int) n];
            new BytePointer(c.data_ptr()).capacity(n).get(out);
            return out;
        }
    }

    /** Wraps the contiguous host memory of {@code t} (a CPU tensor) as a view (valid while {@code t} lives). */
    public static ByteBuffer view(Tensor t) {
        Pointer p = t.data_ptr();
        return new BytePointer(p).capacity(t.nbytes()).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A new tensor of the given type and shape holding a copy of {@code bytes}. */
    public static Tensor fromBytes(ByteBuffer bytes, ScalarType type, long[] shape) {
        Tensor t = torch.empty(shape, options(type), null);
        long n = t.nbytes();
        if (n != bytes.remaining()) {
            throw new IllegalArgumentException("expected " + n + " bytes for shape, got " + bytes.remaining());
        }
        ByteBuffer dst = view(t);
        dst.put(bytes.duplicate());
        return t;
    }

    /**
     * True when two element types are the same. libtorch's ScalarType values are not interned Java enum constants,
     * so {@code ==} is wrong for them; compare with this.
     */
    public static boolean sameType(ScalarType a, ScalarType b) {
        return a.value == b.value;
    }

    /** Maximum absolute element difference between two tensors of equal shape. */
    public static double maxAbsDiff(Tensor a, Tensor b) {
        try (Tensor d = a.detach().to(ScalarType.Float).sub(b.detach().to(ScalarType.Float)).abs().max()) {
            return d.item_double();
        }
    }
}
