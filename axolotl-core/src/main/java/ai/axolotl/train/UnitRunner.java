package ai.axolotl.train;

import ai.axolotl.model.CausalLmLoss;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.ModelUnit;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * Runs forward and backward unit by unit. Each unit after the embedding gets a detached copy of the previous
 * output that requires grad, so backward can be driven one unit at a time in reverse with the gradient of the
 * unit's output, calling the {@link UnitHooks} around each. With gradient checkpointing a decoder layer's forward
 * runs without autograd and is recomputed just before its backward.
 */
public final class UnitRunner {
    private final List<ModelUnit> units;
    private final UnitHooks hooks;
    private final boolean checkpointing;

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
            Tensor in = i == 0 ? h : h.detach().requires_grad_(true);
            inputs[i] = in;
            recomputed[i] = hooks.recompute(u) || (checkpointing && i > 0 && i < n - 1);
            hooks.beforeForward(u);
            if (recomputed[i]) {
                try (NoGradGuard g = new NoGradGuard()) {
                    outputs[i] = u.forward(in, ctx);
                }
            } else {
                outputs[i] = u.forward(in, ctx);
            }
            hooks.afterForward(u);
            h = outputs[i];
        }
        double lossSum;
        ModelUnit head = units.get(n - 1);
        if (recomputed[n - 1]) {
            try (NoGradGuard g = new NoGradGuard(); Tensor sum = CausalLmLoss.sum(outputs[n - 1], labels)) {
                lossSum = sum.item_double();
            }
            hooks.beforeBackward(head);
            try (Tensor logits = head.forward(inputs[n - 1], ctx);
                 Tensor sum = CausalLmLoss.sum(logits, labels);
                 Tensor scaled = sum.div(new org.bytedeco.pytorch.Scalar(normalizer))) {
                scaled.backward();
            }
        } else {
            try (Tensor sum = CausalLmLoss.sum(outputs[n - 1], labels);
                 Tensor scaled = sum.div(new org.bytedeco.pytorch.Scalar(normalizer))) {
                lossSum = sum.item_double();
                hooks.beforeBackward(head);
                scaled.backward();
            }
        }
        hooks.afterBackward(head, lastMicroStep);
        Tensor grad = inputs[n - 1].grad();
        for (int i = n - 2; i >= 0; i--) {
            ModelUnit u = units.get(i);
            hooks.beforeBackward(u);
            Tensor out = outputs[i];
            if (recomputed[i]) {
                out = u.forward(inputs[i], ctx);
            }
            torch.backward(new TensorVector(out), new TensorVector(grad), new BoolOptional(), false,
                    new TensorVector());
            if (out != outputs[i]) {
                out.close();
            }
            hooks.afterBackward(u, lastMicroStep);
            grad.close();
            grad = i > 0 ? inputs[i].grad() : null;
        }
        List<Tensor> toClose = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            toClose.add(outputs[i]);
            if (i > 0) {
                toClose.add(inputs[i]);
            }
        }
        toClose.forEach(Tensor::close);
        return lossSum;
    }

    /** Summed loss and label-token count of one batch without autograd. */
    public static double evalLossSum(List<ModelUnit> units, Tensor inputIds, Tensor labels, ForwardContext ctx) {
        try (NoGradGuard g = new NoGradGuard()) {
            try (Tensor logits = ai.axolotl.model.LlamaModel.forwardUnits(units, inputIds, ctx);
                 Tensor sum = CausalLmLoss.sum(logits, labels)) {
                return sum.item_double();
            }
        }
    }
}
