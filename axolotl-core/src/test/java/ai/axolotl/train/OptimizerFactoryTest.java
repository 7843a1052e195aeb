package ai.axolotl.train;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class OptimizerFactoryTest {
    /** libtorch's AdamW gets beta1 and beta2 the right way round (its options hold them in a C++ tuple). */
    @Test
    void adamWUsesTheConfiguredBetas() {
        Natives.load();
        double b1 = 0.8;
        double b2 = 0.95;
        double lr = 0.1;
        double eps = 1e-8;
        OptimizerSettings s = new OptimizerSettings("adamw", lr, 0.0, b1, b2, eps, 0);
        try (Tensor w = Tensors.floats(new float[] {1.0f, 1.0f}, 1, 2)) {
            w.requires_grad_(true);
            Optimizer opt = OptimizerFactory.create(s, Map.of("w", w));
            double[] grads = {0.5, -1.5};
            double m = 0;
            double v = 0;
            double expected = 1.0;
            for (int step = 1; step <= 2; step++) {
                double g = grads[step - 1];
                try (Tensor gt = Tensors.floats(new float[] {(float) g, (float) g}, 1, 2)) {
                    w.mutable_grad().put(gt.clone());
                }
                opt.step();
                m = b1 * m + (1 - b1) * g;
                v = b2 * v + (1 - b2) * g * g;
                double denom = Math.sqrt(v) / Math.sqrt(1 - Math.pow(b2, step)) + eps;
                expected -= lr / (1 - Math.pow(b1, step)) * m / denom;
            }
            assertThat(Tensors.toFloatArray(w)[0]).isCloseTo((float) expected, within(1e-6f));
            opt.close();
        }
    }
}
