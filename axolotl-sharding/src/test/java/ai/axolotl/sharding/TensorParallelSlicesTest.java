package ai.axolotl.sharding;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.DType;
import ai.axolotl.model.DecoderModel;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.sharding.tp.TensorParallelSlices;
import ai.axolotl.train.ModelLoader;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A tensor-parallel rank reads its slices of a Hugging Face model directory without the rest: every slice equals
 * the whole tensor cut along its split dimension, and the bytes read are the slices' bytes (single file, sharded
 * index, float32 and bfloat16 storage).
 */
class TensorParallelSlicesTest {
    @ParameterizedTest(name = "{0}, shards of {1} bytes")
    @CsvSource({"F32, 1073741824", "BF16, 1073741824", "F32, 40000"})
    void eachRankReadsExactlyItsSlices(DType dtype, long shardBytes, @TempDir Path dir) throws Exception {
        ModelConfig config = ModelConfig.llama(262, 32, 48, 2, 4, 2, 256, 1e-5, 10000, false, "float32");
        long fileBytes = 0;
        try (CausalLm full = DecoderModel.initialise(config, 3)) {
            HfCheckpoint.save(dir, config, full.parameters(), dtype, shardBytes);
            Map<String, Tensor> stored = HfCheckpoint.readWeights(dir);
            for (Tensor t : stored.values()) {
                fileBytes += t.nbytes();
            }
            for (int rank = 0; rank < 2; rank++) {
                ModelLoader.Slices slices = TensorParallelSlices.read(dir, config, rank, 2);
                long owned = 0;
                for (String name : config.parameterNames()) {
                    Tensor slice = slices.tensors().get(name);
                    int dim = config.spec(name).tensorParallel().shardDim();
                    Tensor whole = stored.get(name);
                    try (Tensor expected = dim < 0 ? whole.alias() : whole.narrow(dim, rank * whole.size(dim) / 2,
                            whole.size(dim) / 2)) {
                        assertThat(Tensors.sameType(slice.scalar_type(), dtype.scalarType())).isTrue();
                        assertThat(Tensors.maxAbsDiff(slice.to(ScalarType.Float), expected.to(ScalarType.Float)))
                                .as(name).isZero();
                    }
                    owned += slice.nbytes();
                }
                assertThat(slices.bytesRead()).as("rank " + rank).isEqualTo(owned).isLessThan(fileBytes * 3 / 4);
                slices.tensors().values().forEach(Tensor::close);
            }
            stored.values().forEach(Tensor::close);
        }
    }

    @org.junit.jupiter.api.Test
    void anExtraOrMissingTensorInTheFilesIsAnErrorNamingIt(@TempDir Path dir) throws Exception {
        ModelConfig config = ModelConfig.llama(262, 32, 48, 2, 4, 2, 256, 1e-5, 10000, false, "float32");
        try (CausalLm full = DecoderModel.initialise(config, 3)) {
            Map<String, Tensor> extra = new java.util.LinkedHashMap<>(full.parameters());
            extra.put("model.layers.0.self_attn.q_proj.bias", org.bytedeco.pytorch.global.torch.zeros(32));
            HfCheckpoint.save(dir.resolve("extra"), config, extra, DType.F32, Long.MAX_VALUE);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> TensorParallelSlices.read(dir.resolve("extra"),
                    config, 0, 2)).hasMessageContaining("unexpected tensor 'model.layers.0.self_attn.q_proj.bias'");
            Map<String, Tensor> missing = new java.util.LinkedHashMap<>(full.parameters());
            missing.remove("model.norm.weight");
            HfCheckpoint.save(dir.resolve("missing"), config, missing, DType.F32, Long.MAX_VALUE);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> TensorParallelSlices.read(
                    dir.resolve("missing"), config, 1, 2)).hasMessageContaining("missing tensor 'model.norm.weight'");
        }
    }
}
