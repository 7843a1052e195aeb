package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.model.CausalLm;
import ai.axolotl.model.ParameterSpec;
import ai.axolotl.model.Safetensors;
import ai.axolotl.model.adapter.AdaptedModel;
import ai.axolotl.model.adapter.Adapters;
import ai.axolotl.model.adapter.PeftFiles;
import ai.axolotl.runtime.Tensors;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The regression for accelerate#4206 (an adapter save under sharding kept only rank 0's slice): every adapter
 * tensor is filled so that each slice a rank holds has a value of its own (tensor parallel: the tp rank's; FSDP2:
 * each row its index, so each rank's partition differs), saved through the strategy's gather to PEFT's file, then
 * every rank loads the file into a fresh model: every element is where it was, on 2 and 4 ranks.
 */
class AdapterSaveSlicesTest {
    static final String LORA = "adapter: lora\nlora_r: 4\nlora_alpha: 8\nlora_target_linear: true\n";

    /** The value element (row, col) of a tensor gets: rows numbered, columns tagged, never zero. */
    static Tensor pattern(long[] shape) {
        try (Tensor rows = torch.arange(new Scalar(shape[0])).to(ScalarType.Float);
             Tensor r = rows.view(shape[0], 1);
             Tensor cols = torch.arange(new Scalar(shape[1])).to(ScalarType.Float);
             Tensor c = cols.view(1, shape[1]);
             Tensor rr = r.mul(new Scalar(1000));
             Tensor sum = rr.add(c)) {
            return sum.add(new Scalar(1));
        }
    }

    static void roundTrip(Path dir, String yaml, int world, int tp) throws Exception {
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, LORA + yaml);
        if (tp > 1) {
            kit.tensorParallel(tp);
        }
        StrategyTestKit.fixture(dir, false, 262);
        AxolotlConfig config = kit.config(dir, world, dir.resolve("out"), Map.of());
        Path saved = dir.resolve("adapter");
        new ThreadLauncher(world, Duration.ofSeconds(120), Strategies::create).launch(config, s -> {
            try (PointerScope scope = new PointerScope()) {
                CausalLm base = s.parallelize(s.loadModel(config)).to(s.device());
                AdaptedModel m = (AdaptedModel) Adapters.apply(base, config.model().adapter(), 11, x -> { });
                fill(m);
                s.setup(m, config.optimizer());
                try (PeftFiles.Writer w = s.isMain() ? PeftFiles.writer(saved, m, "kit") : null) {
                    s.streamFullWeights((name, t) -> {
                        if (w != null) {
                            w.accept(name, t);
                        }
                    });
                }
                s.barrier();
                CausalLm fresh = s.parallelize(s.loadModel(config)).to(s.device());
                try (AdaptedModel back = (AdaptedModel) Adapters.apply(fresh,
                        config.model().adapter().withLoraModelDir(saved.toString()), 99, x -> { })) {
                    for (Map.Entry<String, Tensor> e : back.parameters().entrySet()) {
                        try (Tensor expected = local(back, e.getKey())) {
                            assertThat(Tensors.maxAbsDiff(e.getValue(), expected)).as("rank " + s.rank() + " "
                                    + e.getKey()).isZero();
                        }
                    }
                }
                return null;
            }
        });
        try (PointerScope scope = new PointerScope()) {
            for (Map.Entry<String, Tensor> e : Safetensors.read(saved.resolve(PeftFiles.WEIGHTS)).entrySet()) {
                try (Tensor expected = pattern(e.getValue().shape())) {
                    assertThat(Tensors.maxAbsDiff(e.getValue(), expected)).as("saved " + e.getKey()).isZero();
                }
            }
        }
    }

    /** Fills each adapter tensor this rank holds with its slice of the whole pattern. */
    static void fill(AdaptedModel m) {
        try (NoGradGuard g = new NoGradGuard()) {
            for (String name : m.parameters().keySet()) {
                try (Tensor slice = local(m, name)) {
                    m.parameters().get(name).copy_(slice);
                }
            }
        }
    }

    /** This rank's slice of the pattern of a whole adapter tensor. */
    static Tensor local(AdaptedModel m, String name) {
        ParameterSpec spec = m.spec(name);
        try (Tensor whole = pattern(spec.shape())) {
            int dim = spec.tensorParallel().shardDim();
            int tp = m.parallelism().size();
            if (dim < 0 || tp == 1) {
                return whole.clone();
            }
            long n = spec.shape()[dim] / tp;
            try (Tensor s = whole.narrow(dim, n * m.parallelism().rank(), n)) {
                return s.contiguous();
            }
        }
    }

    @Test
    void everyTensorParallelSliceIsSavedAndRestored(@TempDir Path dir) throws Exception {
        roundTrip(dir.resolve("tp2"), "", 2, 2);
        roundTrip(dir.resolve("fsdp2-tp2"), Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"), 4, 2);
    }

    @Test
    void everyFsdp2PartitionIsSavedAndRestored(@TempDir Path dir) throws Exception {
        roundTrip(dir.resolve("w2"), Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"), 2, 1);
        roundTrip(dir.resolve("w4"), Fsdp2ParityTest.fsdp("  reshard_after_forward: true\n"), 4, 1);
        roundTrip(dir.resolve("zero3"), ZeroParityTest.deepspeed(3), 4, 1);
    }
}
