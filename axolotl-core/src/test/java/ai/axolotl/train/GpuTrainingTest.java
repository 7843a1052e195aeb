package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The one-process trainer on a CUDA device end to end: the CPU run's loss curve (fp32 with {@code tf32: false}; the
 * GPU's kernels sum in another order, hence 1e-3), a run stopped at step 6 and resumed on the GPU (libtorch's
 * optimizer.pt read back onto the device) continuing the GPU's uninterrupted curve, and exports equal within 1e-3 of
 * the CPU's, written from host copies. Needs a CUDA build and a GPU, and skips, saying so, without them: on a GPU
 * machine, {@code mvn -Pgpu -pl axolotl-core test -Dtest=GpuTrainingTest}. It has never run (no GPU was available
 * to this project yet).
 */
class GpuTrainingTest {
    private static final String[] BASE = {"max_steps=12", "save_steps=6", "tf32=false", "val_set_size=0"};

    private static TrainResult train(AxolotlConfig c, Device device, TrainingListener listener, Trainer[] running) {
        try (Trainer t = new Trainer(c, new SingleProcessStrategy(device),
                listener == null ? List.of() : List.of(listener), 1)) {
            if (running != null) {
                running[0] = t;
            }
            return t.fit();
        }
    }

    @Test
    void trainsOnTheGpuAsOnTheCpuAndResumesThere(@TempDir Path dir) throws Exception {
        assumeTrue(Natives.cudaDeviceCount() > 0, "needs a CUDA build of libtorch (mvn -Pgpu) and a GPU");
        TinyRun.write(dir, 200);
        Device gpu = Device.of("cuda:0", "test");
        List<Double> onCpu = train(TrainerTest.config(dir, TrainerTest.concat(BASE,
                "output_dir=" + dir.resolve("cpu"))), Device.cpu("test"), null, null).losses();
        List<Double> onGpu = train(TrainerTest.config(dir, TrainerTest.concat(BASE,
                "output_dir=" + dir.resolve("gpu"))), gpu, null, null).losses();
        assertThat(onGpu).hasSameSizeAs(onCpu);
        for (int i = 0; i < onCpu.size(); i++) {
            assertThat(onGpu.get(i)).as("step " + (i + 1) + " on cuda:0 vs the CPU").isCloseTo(onCpu.get(i),
                    within(1e-3));
        }

        AxolotlConfig split = TrainerTest.config(dir, TrainerTest.concat(BASE, "output_dir=" + dir.resolve("split")));
        Trainer[] running = new Trainer[1];
        TrainingListener stopAtSix = new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                if (m.step() == 6) {
                    running[0].stop();
                }
            }
        };
        assertThat(train(split, gpu, stopAtSix, running).steps()).isEqualTo(6);
        List<Double> resumed = train(TrainerTest.config(dir, TrainerTest.concat(BASE,
                "output_dir=" + dir.resolve("split"), "resume_from_checkpoint=true")), gpu, null, null).losses();
        for (int i = 6; i < onGpu.size(); i++) {
            assertThat(resumed.get(i)).as("resumed step " + (i + 1)).isCloseTo(onGpu.get(i), within(1e-5));
        }

        try (CausalLm a = HfCheckpoint.load(dir.resolve("cpu"));
             CausalLm b = HfCheckpoint.load(dir.resolve("gpu"))) {
            for (String n : a.parameters().keySet()) {
                assertThat(Tensors.maxAbsDiff(a.parameters().get(n), b.parameters().get(n))).as(n)
                        .isLessThan(1e-3);
            }
        }
    }
}
