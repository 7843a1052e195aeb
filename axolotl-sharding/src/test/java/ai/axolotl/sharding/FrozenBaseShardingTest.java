package ai.axolotl.sharding;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.sharding.partition.PartitionedLayer;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * ZeRO-3 and FSDP2 shard an adapter's frozen base like the parameters: the full-precision frozen tensors of LoRA
 * and the NF4 codes and absmax of QLoRA (as bytes). Measured from the storages each rank holds after training
 * ({@code frozenBytesHeld}): about half of what a DDP rank (which holds the base whole) holds at world 2, and never
 * more than two units' worth gathered at once. That the sharded base computes exactly what the whole one does is
 * {@link LoraParityTest}'s (the kit's loss, eval loss and final adapter of one process on FSDP2, ZeRO-3, HSDP).
 */
class FrozenBaseShardingTest {
    /** The model of {@link ZeroMemoryTest}: 4 layers of 128, vocabulary 300, untied. */
    private static final String LORA = "adapter: lora\nlora_r: 4\nlora_alpha: 8\nlora_dropout: 0.0\n"
            + "lora_target_linear: true\n";
    private static final String QLORA = "adapter: qlora\nload_in_4bit: true\nlora_r: 4\nlora_alpha: 8\n"
            + "lora_dropout: 0.0\nlora_target_linear: true\ngradient_checkpointing: true\n";
    private static final String FSDP2 = "fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: true\n"
            + "  transformer_layer_cls_to_wrap: LlamaDecoderLayer\n";
    private static final String ZERO3 = "deepspeed:\n  zero_optimization:\n    stage: 3\n";

    /** Per rank: the frozen bytes held after training, the peak gathered bytes, what was partitioned. */
    record Held(long frozenBytes, long peakGatheredBytes, Set<String> partitioned) {}

    private static Held[] run(AxolotlConfig c, int world) {
        Held[] held = new Held[world];
        new ThreadLauncher(world, Duration.ofSeconds(180), Strategies::create).launch(c, s -> {
            DataParallelLayer layer = StrategyTestKit.layer(s, DataParallelLayer.class);
            layer.enableMemoryProbe();
            try (Trainer t = new Trainer(c, s, List.of(), 1)) {
                var r = t.fit();
                held[s.rank()] = layer instanceof PartitionedLayer p
                        ? new Held(p.frozenBytesHeld(), p.peakGatheredBytes(), p.partitionedFrozenTensors())
                        : new Held(layer.frozenBytesHeld(), 0, Set.of());
                return r;
            }
        });
        return held;
    }

    private static void assertHalved(Path dir, String adapter, String sharding, String name, String... partitioned)
            throws Exception {
        Held[] whole = run(ZeroMemoryTest.config(dir.resolve("ddp"), adapter, "out"), 2);
        Held[] sharded = run(ZeroMemoryTest.config(dir.resolve("sharded"), adapter + sharding, "out"), 2);
        // the largest unit is a decoder layer: its frozen base is at most its fp32 weights
        long layer = 4 * ZeroMemoryTest.LAYER;
        for (int r = 0; r < 2; r++) {
            double ratio = (double) sharded[r].frozenBytes() / whole[r].frozenBytes();
            System.out.printf("%s rank %d: frozen base held %d bytes against DDP's %d (%.3f); peak gathered %d%n",
                    name, r, sharded[r].frozenBytes(), whole[r].frozenBytes(), ratio, sharded[r].peakGatheredBytes());
            assertThat(whole[r].frozenBytes()).as("the whole base").isPositive();
            assertThat(ratio).as(name + " rank " + r + ": frozen base held against a DDP rank's").isBetween(0.49, 0.53);
            assertThat(sharded[r].partitioned()).as(name).contains(partitioned);
            assertThat(sharded[r].peakGatheredBytes()).as(name + ": at most two units gathered").isPositive()
                    .isLessThanOrEqualTo(2 * (layer + 4 * 7 * 4 * 2 * 256));
        }
    }

    @Test
    void fsdp2ShardsTheFullPrecisionFrozenBase(@TempDir Path dir) throws Exception {
        assertHalved(dir, LORA, FSDP2, "LoRA FSDP2", "model.embed_tokens.weight", "lm_head.weight",
                "model.layers.0.mlp.up_proj.weight", "model.layers.3.input_layernorm.weight");
    }

    @Test
    void fsdp2ShardsTheNf4BaseAsBytes(@TempDir Path dir) throws Exception {
        assertHalved(dir, QLORA, FSDP2, "QLoRA FSDP2", "model.layers.0.mlp.up_proj.weight",
                "model.layers.0.mlp.up_proj.weight.absmax", "model.layers.0.mlp.up_proj.weight.nested_absmax",
                "model.embed_tokens.weight");
    }

    /** ZeRO-3 keeps tensors within its persistence threshold whole (the norms here), and shards the rest. */
    @Test
    void zeroThreeShardsTheNf4Base(@TempDir Path dir) throws Exception {
        assertHalved(dir, QLORA, ZERO3, "QLoRA ZeRO-3", "model.layers.0.self_attn.q_proj.weight",
                "model.embed_tokens.weight");
    }
}
