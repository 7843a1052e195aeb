package ai.axolotl.runtime;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;

import java.util.List;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;

import java.nio.file.Path;

/**
 * Loads the libtorch natives once per JVM and sets libtorch's thread count.
 *
 * <p>Loading extracts the native libraries into JavaCPP's cache; doing it once in a parent process before
 * spawning ranks avoids two JVMs extracting at the same time (seen to crash the loader).
 */
public final class Natives {
    /** JavaCPP's cache directory property. */
    public static final String CACHE_DIR_PROPERTY = "org.bytedeco.javacpp.cachedir";
    private static volatile boolean loaded;

    private Natives() {}

    /**
     * Keeps JavaCPP's native cache per libtorch bindings version ({@code ~/.javacpp/cache/pytorch-<version>}) unless
     * the user set {@value #CACHE_DIR_PROPERTY}. JavaCPP files what it extracts under the name of the jar the natives
     * came from and reuses those files as they are: after {@code axolotl.jar} is rebuilt or upgraded to another
     * libtorch (same file name), the old {@code libtorch_cpu.so} was loaded next to the new {@code libc10.so} and the
     * JVM aborted in libtorch's static initialisation (seen moving from 2.10 to 2.13). Must run before the first
     * JavaCPP class loads natives: the CLI calls it first thing; {@link #load} calls it too.
     */
    public static void useCachePerLibtorchVersion() {
        if (System.getProperty(CACHE_DIR_PROPERTY) != null) {
            return;
        }
        String version = Provenance.bindingsVersion();
        if (version.startsWith("unknown")) {
            return;
        }
        System.setProperty(CACHE_DIR_PROPERTY, Path.of(System.getProperty("user.home"), ".javacpp", "cache",
                "pytorch-" + version).toString());
    }

    /** Loads the natives if this JVM has not yet. Cheap after the first call. */
    public static void load() {
        if (!loaded) {
            synchronized (Natives.class) {
                if (!loaded) {
                    useCachePerLibtorchVersion();
                    pinBundledLibtorch();
                    Loader.load(torch.class);
                    loaded = true;
                }
            }
        }
    }

    /**
     * Loads the bundled libtorch's core libraries by absolute path, dependencies first, before the bindings load
     * the rest. The bindings' {@code libtorch.so} names {@code libtorch_cpu.so} as a dependency, and the dynamic
     * linker looks for it in {@code LD_LIBRARY_PATH} before the library's own directory: with another libtorch
     * there (a pip torch's {@code lib/}), both versions were loaded into the process and the JVM crashed in
     * libtorch's static initialisers (SIGSEGV, reproduced with Debian's libtorch 1.13 behind unversioned names on
     * LD_LIBRARY_PATH). Loaded first, ours are the ones every later dependency resolves to, by soname. Platforms
     * whose bundle names them otherwise are left to the bindings.
     */
    private static void pinBundledLibtorch() {
        String dir = "/org/bytedeco/pytorch/" + Loader.getPlatform() + "/";
        if (torch.class.getResource(dir + "libtorch_cpu.so") == null) {
            return;
        }
        Loader.load(org.bytedeco.openblas.global.openblas_nolapack.class); // libtorch_cpu's BLAS, as the bindings load it
        for (String lib : List.of("libgomp.so.1", "libc10.so", "libtorch_cpu.so")) {
            java.net.URL url = torch.class.getResource(dir + lib);
            if (url == null) {
                continue;
            }
            try {
                System.load(Loader.cacheResource(url).getAbsolutePath());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot extract the bundled " + lib + " into JavaCPP's cache: "
                        + e.getMessage(), e);
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
     * Makes {@code device} this thread's current CUDA device (what NCCL and device-less CUDA requests use), as
     * torchrun scripts call {@code torch.cuda.set_device(local_rank)}; nothing for the CPU. Ranks that are
     * threads of one JVM set it on their own thread.
     */
    public static void useDevice(Device device) {
        if (device.isCuda()) {
            load();
            torch_cuda.set_device((byte) device.index());
        }
    }

    /**
     * The name CUDA reports for a device ({@code NVIDIA H100 80GB HBM3}), for the MFU peak table. Read through the
     * cudart bindings ({@code org.bytedeco:cuda}, which the gpu profile adds), by reflection so that CPU builds,
     * which lack them, still compile and load this class.
     *
     * @throws IllegalStateException when the bindings are not on the class path
     */
    public static String cudaDeviceName(int index) {
        load();
        try {
            Object props = torch_cuda.class.getMethod("getDeviceProperties", byte.class).invoke(null, (byte) index);
            Object name = props.getClass().getMethod("name").invoke(props);
            return ((BytePointer) name).getString();
        } catch (ReflectiveOperationException | NoClassDefFoundError e) {
            throw new IllegalStateException("cannot read the name of cuda:" + index + ": the cudart bindings "
                    + "(org.bytedeco:cuda, added by mvn -Pgpu) are missing or failed: " + e, e);
        }
    }

    /** CUDA devices libtorch can use (0 on CPU builds and machines without a GPU). */
    public static int cudaDeviceCount() {
        return cudaAvailable() ? torch.cuda_device_count() : 0;
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
