package ai.axolotl.runtime;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The per-rank device decision: torchrun's cuda:LOCAL_RANK rule, the AXOLOTL_DEVICE override, and its errors. */
class DeviceTest {
    @Test
    void aRankTakesTheGpuOfItsLocalRankOrTheCpuWithoutOne() {
        assertThat(Device.decide(null, 1, 4).name()).isEqualTo("cuda:1");
        assertThat(Device.decide(null, 1, 4).reason()).isEqualTo("LOCAL_RANK 1 of 4 visible GPU(s)");
        assertThat(Device.decide(null, 3, 0).name()).isEqualTo("cpu");
        assertThat(Device.decide(null, 3, 0).reason()).startsWith("no usable CUDA device");
        assertThatThrownBy(() -> Device.decide(null, 2, 2)).hasMessageStartingWith("LOCAL_RANK 2 has no GPU: 2 CUDA");
    }

    @Test
    void theOverrideChoosesAndIsCheckedAgainstWhatIsThere() {
        assertThat(Device.decide("cpu", 0, 8).name()).isEqualTo("cpu");
        assertThat(Device.decide("cpu", 0, 8).reason()).isEqualTo("AXOLOTL_DEVICE=cpu");
        assertThat(Device.decide("cuda", 2, 8).name()).isEqualTo("cuda:2");
        assertThat(Device.decide("CUDA:5", 0, 8).name()).isEqualTo("cuda:5");
        assertThatThrownBy(() -> Device.decide("cuda", 0, 0)).hasMessageStartingWith("AXOLOTL_DEVICE=cuda but no CUDA");
        assertThatThrownBy(() -> Device.decide("cuda:3", 0, 2)).hasMessageContaining("asks for cuda:3 but 2 CUDA");
        assertThatThrownBy(() -> Device.decide("gpu", 0, 2))
                .hasMessage("AXOLOTL_DEVICE='gpu': expected cpu, cuda or cuda:K");
    }

    @Test
    void forRankFollowsTheCudaDevicesLibtorchSees() {
        Device d = Device.forRank(0, Map.of());
        if (Natives.cudaDeviceCount() == 0) {
            assertThat(d.isCpu()).isTrue();
            assertThat(d.reason()).startsWith("no usable CUDA device");
        } else { // a CUDA build on a GPU machine: the tensors go to the GPU now
            assertThat(d.name()).isEqualTo("cuda:0");
        }
        assertThat(Device.forRank(0, Map.of(Device.OVERRIDE, "cpu")).reason()).isEqualTo("AXOLOTL_DEVICE=cpu");
        assertThatThrownBy(() -> Device.forRank(0, Map.of(Device.OVERRIDE, "tpu")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("AXOLOTL_DEVICE='tpu'");
    }

    @Test
    void devicesParseAsLibtorchNamesThem() {
        assertThat(Device.of("cuda:3", "x")).isEqualTo(new Device("cuda", 3, "x"));
        assertThat(Device.of("cpu", "x").isCpu()).isTrue();
        assertThat(Device.of("meta", "x").name()).isEqualTo("meta");
    }
}
