package ai.axolotl.train.optim;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.train.OptimizerFactory;
import ai.axolotl.train.TrainOptimizer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The low-bit AdamW family: the maps, blockwise storage (ties, packing, the fp32 rule on the whole tensor), the
 * state's bytes per parameter measured from the tensors held, and training that follows fp32 AdamW closely.
 */
class JavaAdamWTest {
    @BeforeAll
    static void natives() {
        Natives.setThreads(1);
    }

    static OptimizerSettings settings(String name) {
        return new OptimizerSettings(name, 1e-2, 0.01, 0.9, 0.999, 1e-8, 1.0);
    }

    @Test
    void theMapsAreTorchaosAndBitsandbytes() {
        float[] s4 = LowBitFormat.TORCHAO_4BIT.map(true);
        float[] published = {-0.8875f, -0.6625f, -0.4375f, -0.2125f, -0.0775f, -0.0325f, -0.0055f, 0f, 0.0055f,
            0.0325f, 0.0775f, 0.2125f, 0.4375f, 0.6625f, 0.8875f, 1.0f};
        for (int i = 0; i < 16; i++) { // torch's float32 linspace: within an ulp of the decimal figures
            assertThat(s4[i]).isCloseTo(published[i], within(Math.ulp(published[i]) * 1.01f + 1e-12f));
        }
        float[] u4 = LowBitFormat.TORCHAO_4BIT.map(false);
        assertThat(u4[0]).isEqualTo(1 / 16f);
        assertThat(u4[15]).isEqualTo(1f);
        assertThat(LowBitFormat.BNB_8BIT.map(true)).hasSize(256);
    }

    @Test
    void blocksRoundTripTiesFollowEachLibraryAndFourBitsPackHighNibbleFirst() {
        try (PointerScope scope = new PointerScope()) {
            float[] s8 = LowBitFormat.BNB_8BIT.map(true);
            float mid = (s8[200] + s8[201]) / 2f; // exactly on a midpoint once scaled by absmax 1
            float[] x = new float[512];
            x[0] = 1.0f;
            x[1] = mid;
            for (int i = 2; i < 512; i++) {
                x[i] = (float) Math.sin(i) * (i < 256 ? 1f : 0.001f);
            }
            Tensor t = Tensors.floats(x, 512);
            QuantizedMoment bnb = new QuantizedMoment(LowBitFormat.BNB_8BIT, true, 512, t);
            QuantizedMoment ao = new QuantizedMoment(LowBitFormat.TORCHAO_8BIT, true, 512, t);
            bnb.write(t);
            ao.write(t);
            byte[] cb = Tensors.toBytes(bnb.codes());
            byte[] ca = Tensors.toBytes(ao.codes());
            assertThat(cb[1] & 0xff).as("bitsandbytes: a midpoint takes the lower code").isEqualTo(200);
            assertThat(ca[1] & 0xff).as("torchao: ties round up").isEqualTo(201);
            assertThat(Tensors.toFloatArray(bnb.absmax())[1]).as("each block its own absmax")
                    .isCloseTo(0.001f, within(1e-5f));
            float[] back = Tensors.toFloatArray(bnb.read());
            for (int i = 0; i < 512; i++) {
                float scale = i < 256 ? 1f : 0.001f;
                assertThat(Math.abs(back[i] - x[i])).as("value " + i).isLessThanOrEqualTo(0.02f * scale);
            }
            QuantizedMoment four = new QuantizedMoment(LowBitFormat.TORCHAO_4BIT, true, 512, t);
            four.write(t);
            assertThat(four.codes().numel()).isEqualTo(256);
            byte[] c4 = Tensors.toBytes(four.codes());
            assertThat((c4[0] & 0xff) >> 4).as("x[0] = 1.0 -> code 15 in the high nibble").isEqualTo(15);
        }
    }

    @Test
    void theFp32RuleIsDecidedOnTheWholeTensor() {
        assertThat(LowBitFormat.BNB_8BIT.quantizes(4095)).isFalse();
        assertThat(LowBitFormat.BNB_8BIT.quantizes(4097)).isTrue();
        assertThat(LowBitFormat.TORCHAO_8BIT.quantizes(4097)).as("torchao: a multiple of the block").isFalse();
        assertThat(LowBitFormat.TORCHAO_4BIT.quantizes(17 * 256)).isTrue();
    }

    /** Optimizer state bytes per parameter, measured from the tensors held: ~2 for 8-bit, ~1 for 4-bit, 8 fp32. */
    @Test
    void stateBytesPerParameterAreMeasuredFromTheTensorsHeld() {
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> params = new LinkedHashMap<>();
            params.put("w", torch.randn(256, 256).requires_grad_(true));
            for (String name : new String[] {"adamw_8bit", "adamw_torch_8bit", "adamw_torch_4bit"}) {
                try (TrainOptimizer o = OptimizerFactory.forTraining(settings(name), params)) {
                    double perParam = (double) o.stateBytes() / 65536;
                    double expected = name.endsWith("4bit") ? 1 + 8.0 / 256 : 2 + 8.0 / 256;
                    assertThat(perParam).as(name).isCloseTo(expected, within(1e-9));
                }
            }
        }
    }

    /**
     * The same regression fitted with fp32 AdamW and each low-bit AdamW for 100 steps: every low-bit run learns as
     * much (final loss within 5% of fp32's) and ends near fp32's weights; fp32 itself is not what they compute.
     */
    @Test
    void lowBitTrainingFollowsFp32Adamw() {
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(4);
            Tensor xs = torch.randn(64, 128);
            Tensor target = torch.randn(128, 64);
            Tensor init = torch.randn(64, 64).mul(new org.bytedeco.pytorch.Scalar(0.1));
            Map<String, double[]> results = new LinkedHashMap<>();
            for (String name : new String[] {"adamw", "adamw_8bit", "adamw_torch_8bit", "adamw_torch_4bit"}) {
                Tensor w = init.clone().requires_grad_(true);
                Map<String, Tensor> params = Map.of("proj.weight", w);
                double loss = 0;
                try (TrainOptimizer o = OptimizerFactory.forTraining(settings(name), params)) {
                    for (int step = 0; step < 100; step++) {
                        try (PointerScope s = new PointerScope()) {
                            Tensor y = xs.t().matmul(w);
                            Tensor l = y.sub(target).pow(new org.bytedeco.pytorch.Scalar(2)).mean();
                            loss = l.item_double();
                            l.backward();
                            o.step(1e-2);
                            o.zeroGrad();
                        }
                    }
                }
                results.put(name, new double[] {loss});
                if (!name.equals("adamw")) {
                    try (NoGradGuard g = new NoGradGuard()) {
                        assertThat(loss).as(name).isCloseTo(results.get("adamw")[0],
                                within(0.05 * results.get("adamw")[0]));
                    }
                }
            }
        }
    }

    @Test
    void saveAndLoadRestoreTheCodesExactly(@TempDir Path dir) throws Exception {
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(5);
            Tensor w = torch.randn(64, 128).requires_grad_(true);
            Tensor small = torch.randn(8).requires_grad_(true);
            Map<String, Tensor> params = new LinkedHashMap<>();
            params.put("a.weight", w);
            params.put("a.bias", small);
            JavaAdamW o = (JavaAdamW) OptimizerFactory.forTraining(settings("adamw_torch_4bit"), params);
            for (int i = 0; i < 3; i++) {
                w.sum().add(small.sum()).backward();
                o.step(1e-2);
                o.zeroGrad();
            }
            o.save(dir.resolve(o.fileName()));
            JavaAdamW back = (JavaAdamW) OptimizerFactory.forTraining(settings("adamw_torch_4bit"), params);
            back.load(dir.resolve(o.fileName()), null);
            QuantizedMoment a = (QuantizedMoment) o.second("a.weight");
            QuantizedMoment b = (QuantizedMoment) back.second("a.weight");
            assertThat(Tensors.maxAbsDiff(a.codes().to(torch.ScalarType.Float), b.codes().to(torch.ScalarType.Float)))
                    .isZero();
            assertThat(Tensors.maxAbsDiff(a.absmax(), b.absmax())).isZero();
            assertThat(back.first("a.bias")).as("8 elements: fp32").isInstanceOf(FullMoment.class);
        }
    }

    /**
     * LoRA+ (PEFT's groups): on AdamW's first step every element moves by its group's learning rate (m / sqrt(v) is
     * +-1 after bias correction): lora_B by lr x ratio, lora_A by lr, the embedding by loraplus_lr_embedding; no
     * weight decay anywhere.
     */
    @Test
    void loraPlusGroupsScaleTheLearningRatePerParameter() {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            OptimizerSettings s = new OptimizerSettings("adamw", 1e-3, 0.1, 0.9, 0.999, 1e-12, 1.0, 16.0, 1e-6);
            Map<String, Tensor> params = new LinkedHashMap<>();
            params.put("m.q_proj.lora_A.weight", torch.ones(4, 8).requires_grad_(true));
            params.put("m.q_proj.lora_B.weight", torch.ones(8, 4).requires_grad_(true));
            params.put("model.embed_tokens.weight", torch.zeros(10, 8).requires_grad_(true));
            for (Tensor p : params.values()) {
                p.mutable_grad().put(torch.ones(p.shape()));
            }
            try (TrainOptimizer o = OptimizerFactory.forTraining(s, params)) {
                assertThat(o).isInstanceOf(JavaAdamW.class);
                o.step(1e-3);
            }
            // from one, weight decay 0.1 given but LoRA+ giving every group none (it would add lr x 0.1 x 1)
            assertThat(1 - params.get("m.q_proj.lora_A.weight").max().item_double()).isCloseTo(1e-3, within(2e-7));
            assertThat(1 - params.get("m.q_proj.lora_B.weight").max().item_double()).isCloseTo(16e-3, within(2e-7));
            assertThat(-params.get("model.embed_tokens.weight").max().item_double()).isCloseTo(1e-6,
                    within(1e-12));
        }
    }
}
