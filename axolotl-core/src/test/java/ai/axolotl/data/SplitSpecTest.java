package ai.axolotl.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Slices as Hugging Face datasets computes them (values worked out by hand from its documented rules). */
class SplitSpecTest {
    static List<Integer> rows(int n) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(i);
        }
        return out;
    }

    @Test
    void absoluteAndPercentSlicesJoinedWithPlus() {
        assertThat(SplitSpec.parse("train").apply(rows(5))).containsExactly(0, 1, 2, 3, 4);
        assertThat(SplitSpec.parse("train[1:3]").apply(rows(5))).containsExactly(1, 2);
        assertThat(SplitSpec.parse("train[:20%]").apply(rows(10))).containsExactly(0, 1);
        assertThat(SplitSpec.parse("train[-2:]").apply(rows(5))).containsExactly(3, 4);
        assertThat(SplitSpec.parse("train[:-80%]").apply(rows(10))).containsExactly(0, 1);
        assertThat(SplitSpec.parse("train[:1]+train[-1:]").apply(rows(5))).containsExactly(0, 4);
        assertThat(SplitSpec.parse("train[3:100]").apply(rows(5))).as("clamped").containsExactly(3, 4);
        assertThat(SplitSpec.parse("train[4:2]").apply(rows(5))).isEmpty();
    }

    @Test
    void percentagesRoundHalfToEvenOrDropTheRemainder() {
        // 25% of 10 = 2.5 -> 2 (half to even); 35% of 10 = 3.5 -> 4; 15% of 10 = 1.5 -> 2
        assertThat(SplitSpec.parse("train[:25%]").apply(rows(10))).hasSize(2);
        assertThat(SplitSpec.parse("train[:35%]").apply(rows(10))).hasSize(4);
        assertThat(SplitSpec.parse("train[:15%]").apply(rows(10))).hasSize(2);
        // pct1_dropremainder: 1% of 250 rows is trunc(250/100) = 2 rows; 10% is 20
        assertThat(SplitSpec.parse("train[:10%](pct1_dropremainder)").apply(rows(250))).hasSize(20);
        assertThat(SplitSpec.parse("train[:10%](closest)").apply(rows(250))).hasSize(25);
        assertThatThrownBy(() -> SplitSpec.parse("train[:10%](pct1_dropremainder)").apply(rows(50)))
                .hasMessageContaining("at least 100 rows");
    }

    @Test
    void badSplitsAreNamed() {
        assertThat(SplitSpec.problem("test")).contains("split 'test' does not exist");
        assertThat(SplitSpec.problem("train[:120%]")).contains("outside -100%..100%");
        assertThat(SplitSpec.problem("train[3]")).contains("selects one row");
        assertThat(SplitSpec.problem("train[:5](floor)")).contains("rounding 'floor'");
        assertThat(SplitSpec.problem("train[:20%]")).isNull();
    }
}
