package ai.axolotl.model;

import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the trainer places on its device lands there: the model's parameters (as trainable leaves, same names and
 * shapes), every batch tensor, and the per-micro-batch rotary tables (made where the batch is). Checked
 * on libtorch's {@code meta} device, which every build has and which holds shapes without data: a tensor left on
 * the CPU reads as {@code cpu} here, so each assertion fails when its placement does nothing.
 */
@Timeout(60)
class DevicePlacementTest {
    private static final Device META = new Device("meta", -1, "test");

    @BeforeAll
    static void natives() {
        Natives.load();
    }

    @Test
    void theModelMovesAsTrainableLeavesAndStaysWhenAlreadyThere() {
        CausalLm cpu = DecoderModel.initialise(DecoderModelTest.TINY, 7);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        cpu.parameters().forEach((n, t) -> shapes.put(n, t.shape()));
        assertThat(cpu.to(Device.cpu("test"))).isSameAs(cpu);
        try (CausalLm meta = cpu.to(META)) {
            assertThat(meta).isNotSameAs(cpu);
            assertThat(meta.device().name()).isEqualTo("meta");
            assertThat(meta.parameters().keySet()).containsExactlyElementsOf(shapes.keySet());
            meta.parameters().forEach((n, t) -> {
                assertThat(Tensors.deviceName(t)).as(n).isEqualTo("meta");
                assertThat(t.requires_grad()).as(n).isTrue();
                assertThat(t.is_leaf()).as(n).isTrue();
                assertThat(t.shape()).as(n).isEqualTo(shapes.get(n));
            });
            assertThat(meta.units()).hasSize(DecoderModelTest.TINY.numHiddenLayers() + 2);
        }
    }

    @Test
    void batchesAndTheirForwardContextAreMadeOnTheDevice() {
        PackedRow row = new PackedRow(new int[] {1, 2, 3, 4}, new int[] {-100, 2, 3, 4}, new int[] {0, 1, 0, 1},
                new int[] {1, 1, 2, 2});
        try (MicroBatch mb = MicroBatch.of(List.of(row, row), 6, 0, 1, META)) {
            for (Tensor t : List.of(mb.inputIds(), mb.labels(), mb.positionIds(), mb.segmentIds())) {
                assertThat(Tensors.deviceName(t)).isEqualTo("meta");
                assertThat(t.shape()).containsExactly(2, 6);
            }
            assertThat(mb.labelTokens()).isEqualTo(6);
            // the forward context's rotary tables (its mask needs logical_and, which has no meta kernel in libtorch)
            Tensor[] table = RotaryEmbedding.cosSin(mb.positionIds(), DecoderModelTest.TINY.headDim(),
                    DecoderModelTest.TINY.rope(), ScalarType.Float);
            try (Tensor cos = table[0]; Tensor sin = table[1]) {
                assertThat(Tensors.deviceName(cos)).isEqualTo("meta");
                assertThat(Tensors.deviceName(sin)).isEqualTo("meta");
                assertThat(cos.shape()).containsExactly(2, 1, 6, DecoderModelTest.TINY.headDim());
            }
        }
        try (MicroBatch host = MicroBatch.of(List.of(row), 0, 0, 1)) {
            assertThat(Tensors.deviceName(host.inputIds())).isEqualTo("cpu");
        }
    }

    @Test
    void buffersMadeLikeATensorFollowItsDevice() {
        try (Tensor host = Tensors.zeros(1); Tensor onHost = Tensors.zerosOn(host, 3)) {
            assertThat(Tensors.deviceName(onHost)).isEqualTo("cpu");
        }
        try (Tensor host = Tensors.zeros(2); Tensor meta = Tensors.to(host, META);
             Tensor follower = Tensors.zerosOn(meta, 5)) {
            assertThat(Tensors.deviceName(follower)).isEqualTo("meta");
            assertThat(follower.shape()).containsExactly(5);
        }
    }
}
