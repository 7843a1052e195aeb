package ai.axolotl.runtime;

import org.bytedeco.pytorch.global.torch;

/**
 * The {@code tf32} key: on a CUDA device, {@code true} lets float32 matmuls and convolutions use TF32 tensor cores
 * (libtorch's float32 matmul precision {@code high}) and {@code false} forbids it ({@code highest}); {@code auto}
 * keeps libtorch's defaults. TF32 exists only on CUDA GPUs, so elsewhere {@code true} is reported as having no
 * effect. The setting is libtorch's process-wide context, as {@code torch.backends.cuda.matmul.allow_tf32} is.
 */
public final class Tf32 {
    private Tf32() {}

    /** What {@link #apply} did, for the log: {@code applied} false when the setting has no effect here. */
    public record Outcome(boolean applied, String message) {}

    /**
     * Applies {@code setting} ({@code auto}, {@code true} or {@code false}) for a run on {@code device}.
     *
     * @return what was done, or null when there is nothing to say ({@code auto}, or {@code false} off CUDA)
     */
    public static Outcome apply(String setting, Device device) {
        boolean cuda = device.isCuda();
        if (setting.equals("auto") || (!cuda && setting.equals("false"))) {
            return null;
        }
        if (!cuda) {
            return new Outcome(false, "tf32: true has no effect on " + device.name()
                    + ": TF32 matmuls exist only on CUDA GPUs; this run computes in full fp32");
        }
        boolean on = setting.equals("true");
        torch.globalContext().setFloat32MatmulPrecision(on ? "high" : "highest");
        torch.globalContext().setAllowTF32CuDNN(on);
        return new Outcome(true, "tf32: " + setting + " on " + device.name() + ": float32 matmul precision '"
                + (on ? "high" : "highest") + "', cuDNN TF32 " + (on ? "allowed" : "off"));
    }
}
