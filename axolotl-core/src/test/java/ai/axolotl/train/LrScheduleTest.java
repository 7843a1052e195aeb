package ai.axolotl.train;

import ai.axolotl.config.SchedulerSettings;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class LrScheduleTest {
    @Test
    void followsHuggingFaceSemantics() {
        LrSchedule cos = new LrSchedule("cosine", 10, 110, 0);
        assertThat(cos.factor(0)).isEqualTo(0.0);
        assertThat(cos.factor(5)).isEqualTo(0.5);
        assertThat(cos.factor(10)).isEqualTo(1.0);
        assertThat(cos.factor(60)).isCloseTo(0.5, within(1e-12));
        assertThat(cos.factor(110)).isCloseTo(0.0, within(1e-12));
        LrSchedule lin = new LrSchedule("linear", 10, 110, 0);
        assertThat(lin.factor(60)).isCloseTo(0.5, within(1e-12));
        assertThat(new LrSchedule("constant", 10, 110, 0).factor(0)).isEqualTo(1.0);
        assertThat(new LrSchedule("constant_with_warmup", 10, 110, 0).factor(5)).isEqualTo(0.5);
        assertThat(new LrSchedule("cosine", 0, 100, 0.1).factor(100)).isCloseTo(0.1, within(1e-12));
    }

    @Test
    void defaultWarmupIsAxolotls() {
        var s = new SchedulerSettings("cosine", null, null, 0);
        assertThat(LrSchedule.of(s, 1000).warmupSteps()).isEqualTo(30);
        assertThat(LrSchedule.of(s, 10000).warmupSteps()).isEqualTo(100);
        assertThat(LrSchedule.of(s, 40).warmupSteps()).isEqualTo(2);
        var r = new SchedulerSettings("cosine", null, 0.1, 0);
        assertThat(LrSchedule.of(r, 55).warmupSteps()).isEqualTo(6);
    }
}
