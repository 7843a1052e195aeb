package ai.axolotl.runtime;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.global.torch;

/**
 * Loads the libtorch natives once per JVM and sets libtorch's thread count.
 *
 * <p>Loading extracts the native libraries into JavaCPP's cache; doing it once in a parent process before
 * spawning ranks avoids two JVMs extracting at the same time (seen to crash the loader).
 */
public final class Natives {
    private static volatile boolean loaded;

    private Natives() {}

    /** Loads the natives if this JVM has not yet. Cheap after the first call. */
    public static void load() {
        if (!loaded) {
            synchronized (Natives.class) {
                if (!loaded) {
                    Loader.load(torch.class);
                    loaded = true;
                }
            }
        }
    }

    /** Sets the number of intra-op threads libtorch uses in this process. */
    public static void setThreads(int threads) {
        load();
        if (threads > 0) {
            torch.set_num_threads(threads);
        }
    }

    /**
     * True when this build of libtorch can use CUDA and a device is present (false on CPU builds). A GPU build whose
     * CUDA libraries cannot be loaded is an error saying why, not "no CUDA".
     */
    public static boolean cudaAvailable() {
        load();
        try {
            return torch.cuda_is_available();
        } catch (UnsatisfiedLinkError e) {
            throw new IllegalStateException("libtorch's CUDA libraries did not load: " + e.getMessage()
                    + " (a GPU build needs the NVIDIA driver and the CUDA runtime on the library path)", e);
        }
    }
}
