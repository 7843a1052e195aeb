package ai.axolotl.train;

import ai.axolotl.config.OptimizerSettings;
import ai.axolotl.runtime.Natives;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * libtorch's AdamW state moves by parameter name: moments read from one optimizer's {@code optimizer.pt} and loaded
 * into a fresh optimizer over copies of the same parameters make its next steps exactly the original's (bias
 * correction included, so a load that did nothing would take a first step instead of a third).
 */
@Timeout(60)
class AdamWArchiveTest {
    private static final OptimizerSettings ADAMW = new OptimizerSettings("adamw", 1e-2, 0.1, 0.9, 0.95, 1e-8, 0);

    @BeforeAll
    static void natives() {
        Natives.load();
    }

    private static Map<String, Tensor> params(float seed) {
        Map<String, Tensor> p = new LinkedHashMap<>();
        // the norm is in the no-decay group, after the matrices: names are not in group order
        p.put("model.norm.weight", leaf(new float[] {1, seed, 2}, 3));
        p.put("model.embed_tokens.weight", leaf(new float[] {seed, 2, 3, 4, 5, 6}, 3, 2));
        p.put("lm_head.weight", leaf(new float[] {6, 5, 4, 3, 2, seed}, 2, 3));
        return p;
    }

    private static Tensor leaf(float[] v, long... shape) {
        Tensor t = Tensors.floats(v, shape);
        t.requires_grad_(true);
        return t;
    }

    /** A step with gradients that depend on the parameters (so the two runs would drift apart if they differed). */
    private static void step(Optimizer opt, Map<String, Tensor> params) {
        Tensor loss = null;
        for (Tensor p : params.values()) {
            Tensor term = p.mul(p).sum();
            loss = loss == null ? term : loss.add(term);
        }
        loss.backward();
        OptimizerFactory.stepAndClear(opt, 1e-2);
    }

    @Test
    void momentsMovedByNameContinueTheSameUpdates(@TempDir Path dir) throws Exception {
        Map<String, Tensor> a = params(0.5f);
        Optimizer original = OptimizerFactory.create(ADAMW, a);
        step(original, a);
        step(original, a);
        OptimizerFactory.save(original, dir.resolve("optimizer.pt"));
        List<String> names = OptimizerFactory.groupOrder(a);
        assertThat(names).containsExactly("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight");

        Map<String, Tensor> b = params(0.5f);
        try (NoGradGuard g = new NoGradGuard()) {
            a.forEach((n, t) -> b.get(n).copy_(t));
        }
        Optimizer moved = OptimizerFactory.create(ADAMW, b);
        Map<String, AdamWArchive.Moments> moments = AdamWArchive.read(dir.resolve("optimizer.pt"), names);
        assertThat(moments).containsOnlyKeys(names);
        assertThat(moments.values()).allSatisfy(m -> assertThat(m.step()).isEqualTo(2));
        assertThat(moments.get("lm_head.weight").expAvg().shape()).containsExactly(2, 3);
        AdamWArchive.load(moved, names, moments);
        moments.values().forEach(AdamWArchive.Moments::close);

        step(original, a);
        step(moved, b);
        step(original, a);
        step(moved, b);
        for (String n : names) {
            assertThat(Tensors.maxAbsDiff(a.get(n), b.get(n))).as(n).isZero();
        }
    }

    @Test
    void aStateFileOfAnotherModelIsRefusedNamingIt(@TempDir Path dir) {
        Map<String, Tensor> a = params(1f);
        Optimizer opt = OptimizerFactory.create(ADAMW, a);
        step(opt, a);
        Path file = dir.resolve("optimizer.pt");
        OptimizerFactory.save(opt, file);
        assertThatThrownBy(() -> AdamWArchive.read(file, List.of("only.one")))
                .isInstanceOf(TrainingException.class)
                .hasMessage(file + ": optimizer state over 3 parameters, but the model has 1 here; not the same model");
    }
}
