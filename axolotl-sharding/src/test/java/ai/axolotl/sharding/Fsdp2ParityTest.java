package ai.axolotl.sharding;

import ai.axolotl.distributed.launch.ThreadLauncher;
import ai.axolotl.sharding.partition.PartitionedLayer;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.Trainer;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** FSDP2 passes the strategy test kit with and without resharding after forward, with activation checkpointing, and as HSDP. */
class Fsdp2ParityTest {
    static String fsdp(String extra) {
        return "fsdp_version: 2\nfsdp_config:\n  auto_wrap_policy: TRANSFORMER_BASED_WRAP\n"
                + "  transformer_layer_cls_to_wrap: LlamaDecoderLayer\n  state_dict_type: SHARDED_STATE_DICT\n" + extra;
    }

    @Test
    void reshardAfterForward(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, fsdp("  reshard_after_forward: true\n")).assertParity(dir);
    }

    @Test
    void keepParametersUntilBackward(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, fsdp("  reshard_after_forward: false\n")).assertParity(dir);
    }

    @Test
    void activationCheckpointing(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, fsdp("  activation_checkpointing: true\n  offload_params: true\n"))
                .assertParity(dir);
    }

    @Test
    void cpuRamEfficientLoadingOnlyRankZeroReadsTheModel(@TempDir Path dir) throws Exception {
        String block = fsdp("  cpu_ram_efficient_loading: true\n");
        new StrategyTestKit(Strategies::create, block).assertParity(dir.resolve("kit"));
        // from saved weights (not a seeded init): the other ranks still match rank 0 without reading them
        StrategyTestKit kit = new StrategyTestKit(Strategies::create, block);
        Path d = dir.resolve("weights");
        StrategyTestKit.fixture(d, false);
        var init = kit.config(d, 2, d.resolve("init"), Map.of("max_steps", "1"));
        kit.run(init, 2, -1);
        Map<String, String> fromDisk = Map.of("base_model", d.resolve("init").toString(),
                "reinit_weights", "false");
        var one = kit.run(kit.config(d, 1, d.resolve("one"), fromDisk), 0, -1).get(0);
        boolean[] received = new boolean[2];
        var cfg = kit.config(d, 2, d.resolve("two"), fromDisk);
        new ThreadLauncher(2, Duration.ofSeconds(120), Strategies::create)
                .launch(cfg, s -> {
                    try (Trainer t = new Trainer(cfg, s, List.of(), 1)) {
                        var r = t.fit();
                        received[s.rank()] = StrategyTestKit.layer(s, PartitionedLayer.class)
                                .receivedPartitionsFromRankZero();
                        return r;
                    }
                });
        Assertions.assertThat(received).containsExactly(false, true);
        StrategyTestKit.assertSameWeights(d.resolve("one"), d.resolve("two"), "rank-0 loading");
        Assertions.assertThat(one).isNotEmpty();
    }

    @Test
    void hybridShardingTwoByTwo(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, fsdp("") + "dp_replicate_size: 2\n").assertParity(dir, 2, 4);
    }
}
