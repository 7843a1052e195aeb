package ai.axolotl.train;

import ai.axolotl.model.CausalLmLoss;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.List;

/**
 * Runs forward and backward unit by unit. Each unit after the embedding gets a detached copy of the previous
 * output that requires grad, so backward can be driven one unit at a time in reverse with the gradient of the
 * unit's output, calling the {@link UnitHooks} around each. With gradient checkpointing a decoder layer's forward
 * runs without autograd and is recomputed just before its backward; otherwise no unit's forward runs twice.
 *
 * <p>Memory: a unit's output (the next unit's input) and the gradient flowing into it are closed as soon as that
 * unit's backward has consumed them, so a micro-batch's boundary activations leave one by one during backward
 * instead of at the end of the step.
 */
public final class UnitRunner {
    private final List<ModelUnit> units;
    private final UnitHooks hooks;
    private final boolean checkpointing;
    private long unitForwards;

    /**
     * @param units the model's units in forward order
     * @param hooks strategy hooks
     * @param checkpointing recompute decoder layers in backward
     */
    public UnitRunner(List<ModelUnit> units, UnitHooks hooks, boolean checkpointing) {
        this.units = units;
        this.hooks = hooks;
        this.checkpointing = checkpointing;
    }

    /** How many unit forwards this runner has run, recomputations included (what checkpointing costs). */
    public long unitForwards() {
        return unitForwards;
    }

    /**
     * Forward and backward of one micro-batch; gradients accumulate into the parameters.
     *
     * @param normalizer the loss is the summed cross entropy divided by this (the step's label tokens)
     * @return the summed (not normalised) loss of the micro-batch
     */
    public double forwardBackward(Tensor inputIds, Tensor labels, ForwardContext ctx, double normalizer,
                                  boolean lastMicroStep) {
        int n = units.size();
        Tensor[] inputs = new Tensor[n];
        Tensor[] outputs = new Tensor[n];
        boolean[] recomputed = new boolean[n];
        Tensor h = inputIds;
        for (int i = 0; i < n; i++) {
            ModelUnit u = units.get(i);
            Tensor in = h;
            if (i > 0) {
                in = h.detach();
                in.requires_grad_(true);
            }
            inputs[i] = in;
            recomputed[i] = checkpointing && i > 0 && i < n - 1;
            hooks.beforeForward(u);
            if (recomputed[i]) {
                try (NoGradGuard g = new NoGradGuard()) {
                    outputs[i] = forward(u, in, ctx);
                }
            } else {
                outputs[i] = forward(u, in, ctx);
            }
            hooks.afterForward(u);
            h = outputs[i];
        }
        double lossSum;
        ModelUnit head = units.get(n - 1);
        try (Tensor sum = CausalLmLoss.sum(outputs[n - 1], labels);
             Tensor scaled = sum.div(Tensors.scalar(normalizer))) {
            lossSum = sum.item_double();
            hooks.beforeBackward(head);
            scaled.backward();
        }
        outputs[n - 1].close();
        hooks.afterBackward(head, lastMicroStep);
        Tensor grad = inputs[n - 1].grad();
        inputs[n - 1].close();
        for (int i = n - 2; i >= 0; i--) {
            ModelUnit u = units.get(i);
            hooks.beforeBackward(u);
            Tensor out = outputs[i];
            if (recomputed[i]) {
                out.close();
                out = forward(u, inputs[i], ctx);
            }
            // the vectors hold references: closed here so the activation and its gradient go now
            try (TensorVector outs = new TensorVector(out); TensorVector grads = new TensorVector(grad);
                 TensorVector inputsOf = new TensorVector(); BoolOptional retain = new BoolOptional()) {
                torch.backward(outs, grads, retain, false, inputsOf);
            }
            out.close();
            grad.close();
            hooks.afterBackward(u, lastMicroStep);
            if (i > 0) {
                grad = inputs[i].grad();
                inputs[i].close();
            }
        }
        return lossSum;
    }

    private Tensor forward(ModelUnit u, Tensor in, ForwardContext ctx) {
        unitForwards++;
        return u.forward(in, ctx);
    }

    /**
     * Summed cross entropy of one batch without autograd, unit by unit through the hooks (a strategy that
     * partitions parameters gathers each unit's before it runs and frees them after), closing each intermediate
     * output as soon as the next unit has consumed it.
     */
    public static double evalLossSum(List<ModelUnit> units, UnitHooks hooks, Tensor inputIds, Tensor labels,
                                     ForwardContext ctx) {
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor h = inputIds;
            for (int i = 0; i < units.size(); i++) {
                ModelUnit u = units.get(i);
                hooks.beforeForward(u);
                Tensor next = u.forward(h, ctx);
                hooks.afterEvaluationForward(u);
                if (i > 0) {
                    h.close();
                }
                h = next;
            }
            try (Tensor logits = h; Tensor sum = CausalLmLoss.sum(logits, labels)) {
                return sum.item_double();
            }
        }
    }
}
