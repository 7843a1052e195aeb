package ai.axolotl.runtime;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code tf32} off CUDA: {@code true} is reported as having no effect, naming the device; the rest says nothing. */
class Tf32Test {
    @Test
    void offCudaTrueIsReportedAndAutoOrFalseAreQuiet() {
        Device cpu = Device.cpu("test");
        Tf32.Outcome outcome = Tf32.apply("true", cpu);
        assertThat(outcome).isNotNull();
        assertThat(outcome.applied()).isFalse();
        assertThat(outcome.message()).isEqualTo("tf32: true has no effect on cpu: TF32 matmuls exist only on CUDA "
                + "GPUs; this run computes in full fp32");
        assertThat(Tf32.apply("auto", cpu)).isNull();
        assertThat(Tf32.apply("false", cpu)).isNull();
    }
}
