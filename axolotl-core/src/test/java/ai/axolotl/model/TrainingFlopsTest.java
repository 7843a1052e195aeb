package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The FLOP count MFU uses, checked against the weights a built model actually multiplies with. */
class TrainingFlopsTest {
    @Test
    void matmulWeightsAreTheModelsProjectionAndHeadWeights() {
        for (boolean tied : new boolean[] {false, true}) {
            ModelConfig c = ModelConfig.llama(261, 32, 48, 2, 4, 2, 256, 1e-5, 10000, tied, "float32");
            try (CausalLm m = DecoderModel.initialise(c, 1)) {
                long counted = 0;
                for (Map.Entry<String, Tensor> e : m.parameters().entrySet()) {
                    boolean matmul = e.getValue().dim() == 2 && !e.getKey().equals("model.embed_tokens.weight");
                    counted += matmul ? e.getValue().numel() : 0;
                }
                if (tied) {
                    counted += (long) c.vocabSize() * c.hiddenSize(); // the head multiplies by the embedding
                }
                assertThat(TrainingFlops.matmulWeights(c)).as("tied " + tied).isEqualTo(counted);
            }
        }
    }

    @Test
    void perTokenIsSixPerWeightPlusPalmsAttentionTerm() {
        ModelConfig c = ModelConfig.shape("llama-tiny");
        double attention = 12.0 * c.numHiddenLayers() * c.hiddenSize() * 256;
        assertThat(TrainingFlops.perToken(c, 256)).isEqualTo(6.0 * TrainingFlops.matmulWeights(c) + attention);
    }
}
