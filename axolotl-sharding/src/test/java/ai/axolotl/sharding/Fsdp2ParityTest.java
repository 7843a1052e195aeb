package ai.axolotl.sharding;

import ai.axolotl.sharding.testkit.StrategyTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

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
    void hybridShardingTwoByTwo(@TempDir Path dir) throws Exception {
        new StrategyTestKit(Strategies::create, fsdp("") + "dp_replicate_size: 2\n").assertParity(dir, 2, 4);
    }
}
