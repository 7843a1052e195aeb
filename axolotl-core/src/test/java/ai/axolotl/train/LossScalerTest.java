package ai.axolotl.train;

import ai.axolotl.config.LossScaleSettings;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LossScalerTest {
    private static final double INF = Double.POSITIVE_INFINITY;

    @Test
    void anOverflowSkipsAndHalvesAndGoodStepsDoubleAfterTheInterval() {
        LossScaler s = new LossScaler(new LossScaleSettings(1024, 3, 1, false, 0, true));
        assertThat(s.update(INF, 1)).isFalse();
        assertThat(s.scale()).isEqualTo(512);
        assertThat(s.update(Double.NaN, 2)).isFalse();
        assertThat(s.scale()).isEqualTo(256);
        assertThat(s.update(1.0, 3)).isTrue();
        assertThat(s.update(1.0, 4)).isTrue();
        assertThat(s.scale()).isEqualTo(256);
        assertThat(s.update(1.0, 5)).isTrue();
        assertThat(s.scale()).as("three good steps in a row double it").isEqualTo(512);
        assertThat(s.skippedSteps()).isEqualTo(2);
    }

    @Test
    void hysteresisToleratesOverflowsBeforeHalvingAndTheFloorEndsTheRun() {
        LossScaler s = new LossScaler(new LossScaleSettings(8, 1000, 2, false, 4, true));
        assertThat(s.update(INF, 1)).isFalse();
        assertThat(s.scale()).as("first overflow spends the hysteresis").isEqualTo(8);
        assertThat(s.update(INF, 2)).isFalse();
        assertThat(s.scale()).isEqualTo(4);
        assertThatThrownBy(() -> s.update(INF, 3)).as("spent hysteresis: the next overflow would go below the floor")
                .isInstanceOf(TrainingException.class)
                .hasMessageContaining("minimum loss scale 4.0").hasMessageContaining("step 3");
    }

    @Test
    void aFixedScaleSkipsOverflowsWithoutChanging() {
        LossScaler s = new LossScaler(new LossScaleSettings(128, 1, 1, false, 0, false));
        assertThat(s.update(INF, 1)).isFalse();
        assertThat(s.update(1.0, 2)).isTrue();
        assertThat(s.update(1.0, 3)).isTrue();
        assertThat(s.scale()).isEqualTo(128);
    }

    @Test
    void stateRoundTripsThroughACheckpoint() {
        LossScaler a = new LossScaler(LossScaleSettings.TORCH_DEFAULTS);
        a.update(INF, 1);
        a.update(1.0, 2);
        LossScaler b = new LossScaler(LossScaleSettings.TORCH_DEFAULTS);
        b.restore(a.state());
        assertThat(b.state()).isEqualTo(a.state());
        assertThat(b.scale()).isEqualTo(32768);
    }
}
