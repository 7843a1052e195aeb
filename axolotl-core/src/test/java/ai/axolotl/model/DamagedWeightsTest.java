package ai.axolotl.model;

import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.TrainingException;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Damaged weights are refused at load naming the tensor, instead of training and being blamed on the learning rate:
 * NaN or infinite values, safetensors data with holes, and a checkpoint with tensors the model does not have.
 */
class DamagedWeightsTest {
    @Test
    void nanOrInfiniteWeightsAreRefusedNamingTheTensor(@TempDir Path dir) throws Exception {
        ModelConfig c = DecoderModelTest.TINY;
        try (PointerScope scope = new PointerScope()) {
            CausalLm m = DecoderModel.initialise(c, 1);
            Map<String, Tensor> w = new LinkedHashMap<>(m.parameters());
            Tensor broken = w.get("model.layers.1.mlp.up_proj.weight").detach().clone();
            broken.view(-1).narrow(0, 5, 2).fill_(new Scalar(Double.NaN));
            w.put("model.layers.1.mlp.up_proj.weight", broken);
            HfCheckpoint.save(dir, c, w, DType.BF16, Long.MAX_VALUE);
            assertThatThrownBy(() -> HfCheckpoint.load(dir))
                    .hasMessageContaining("tensor 'model.layers.1.mlp.up_proj.weight' holds 2 NaN or infinite values");
        }
    }

    /** A hand-written file: tensor a at bytes 0-8 and b at 16-24 of a 24-byte data section (8 bytes of nothing). */
    @Test
    void safetensorsDataWithAHoleIsRefusedNamingTheTensorAfterIt(@TempDir Path dir) throws Exception {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer file = ByteBuffer.allocate(8 + h.length + 24).order(ByteOrder.LITTLE_ENDIAN);
        file.putLong(h.length).put(h);
        Path f = dir.resolve("holes.safetensors");
        Files.write(f, file.array());
        assertThatThrownBy(() -> Safetensors.entries(f)).hasMessageContaining("8 bytes before tensor 'b'")
                .hasMessageContaining("holes.safetensors");
        String contiguous = header.replace("[16,24]", "[8,16]");
        byte[] hc = contiguous.getBytes(StandardCharsets.UTF_8);
        ByteBuffer tail = ByteBuffer.allocate(8 + hc.length + 24).order(ByteOrder.LITTLE_ENDIAN);
        tail.putLong(hc.length).put(hc);
        Files.write(f, tail.array());
        assertThatThrownBy(() -> Safetensors.entries(f)).hasMessageContaining("8 bytes after the last tensor");
    }

    @Test
    void aCheckpointWithTensorsTheModelLacksIsRefusedNamingOne() {
        ModelConfig c = DecoderModelTest.TINY;
        try (PointerScope scope = new PointerScope()) {
            CausalLm m = DecoderModel.initialise(c, 1);
            Map<String, Tensor> saved = new LinkedHashMap<>();
            m.parameters().forEach((n, t) -> saved.put(n, t.detach().clone()));
            saved.put("model.layers.2.input_layernorm.weight", torch.ones(16));
            assertThatThrownBy(() -> SingleProcessStrategy.copyWeights(m, saved, "checkpoint-4"))
                    .isInstanceOf(TrainingException.class)
                    .hasMessageContaining("checkpoint-4: tensor 'model.layers.2.input_layernorm.weight' is not a "
                            + "parameter of this run's model (2 layers)");
        }
    }
}
