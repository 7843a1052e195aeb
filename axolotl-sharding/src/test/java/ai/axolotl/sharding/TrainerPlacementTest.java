package ai.axolotl.sharding;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.runtime.Device;
import ai.axolotl.sharding.testkit.ForwardingStrategy;
import ai.axolotl.sharding.testkit.StrategyTestKit;
import ai.axolotl.train.SingleProcessStrategy;
import ai.axolotl.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The trainer puts the model on the device its strategy decided before the strategy builds anything over it: with a
 * strategy that says {@code meta} (libtorch's data-less device, which every build has), the model the strategy's
 * {@code setup} receives has every parameter there. Fails when the trainer ignores the decision (the parameters
 * then arrive on the CPU).
 */
@Timeout(120)
class TrainerPlacementTest {
    private static final class Stop extends RuntimeException {
        Stop() {
            super("stopped after setup");
        }
    }

    @Test
    void theStrategysSetupReceivesTheModelOnItsDevice(@TempDir Path dir) throws Exception {
        StrategyTestKit.fixture(dir, false);
        AxolotlConfig config = new StrategyTestKit((c, g) -> new SingleProcessStrategy(), "")
                .config(dir, 1, dir.resolve("out"), Map.of());
        String[] seen = new String[1];
        ForwardingStrategy onMeta = new ForwardingStrategy(new SingleProcessStrategy()) {
            @Override
            public Device device() {
                return new Device("meta", -1, "test");
            }

            @Override
            public void setup(CausalLm model, OptimizerSettings optimizer) {
                seen[0] = model.device().name();
                model.parameters().forEach((n, t) -> assertThat(t.is_meta()).as(n).isTrue());
                throw new Stop();
            }
        };
        try (Trainer t = new Trainer(config, onMeta, List.of(), 1)) {
            assertThatThrownBy(t::fit).isInstanceOf(Stop.class);
        }
        assertThat(seen[0]).isEqualTo("meta");
    }
}
