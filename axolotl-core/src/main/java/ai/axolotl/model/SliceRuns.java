package ai.axolotl.model;

import java.io.IOException;
import java.util.Arrays;

/**
 * The contiguous runs of a slice {@code [from, from + len)} along dimension {@code dim} of a row-major tensor:
 * {@code prod(shape[0..dim))} runs of {@code len x prod(shape(dim..])} elements. A reader that fetches each run by
 * byte range reads exactly the slice (rows: one run; columns of a matrix: one run per row).
 */
public final class SliceRuns {
    private SliceRuns() {}

    /** Receives one run. */
    @FunctionalInterface
    public interface Run {
        /**
         * @param sourceStart the run's first element in the flattened whole tensor
         * @param length elements in the run
         * @param targetStart the run's first element in the flattened slice
         */
        void accept(long sourceStart, long length, long targetStart) throws IOException;
    }

    /** Elements of the slice. */
    public static long numel(long[] shape, int dim, long len) {
        long n = len;
        for (int i = 0; i < shape.length; i++) {
            n *= i == dim ? 1 : shape[i];
        }
        return n;
    }

    /** The slice's shape: {@code shape} with dimension {@code dim} set to {@code len}. */
    public static long[] shape(long[] shape, int dim, long len) {
        long[] cut = shape.clone();
        cut[dim] = len;
        return cut;
    }

    /** Calls {@code run} for each run of the slice, in order. */
    public static void forEach(long[] shape, int dim, long from, long len, Run run) throws IOException {
        if (dim < 0 || dim >= shape.length || from < 0 || len < 0 || from + len > shape[dim]) {
            throw new IllegalArgumentException("slice [" + from + ", " + (from + len) + ") of dimension " + dim
                    + " is outside shape " + Arrays.toString(shape));
        }
        long outer = 1;
        for (int i = 0; i < dim; i++) {
            outer *= shape[i];
        }
        long inner = 1;
        for (int i = dim + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        long length = len * inner;
        for (long o = 0; o < outer; o++) {
            run.accept((o * shape[dim] + from) * inner, length, o * length);
        }
    }
}
