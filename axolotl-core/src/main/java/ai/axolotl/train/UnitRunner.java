package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.model.ChunkedCrossEntropy;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.GraphCut;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.runtime.Tensors;
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
 * runs without autograd and is recomputed just before its backward; otherwise no unit's forward runs twice.
 *
 * <p>Memory: a unit's output (the next unit's input) and the gradient flowing into it are closed as soon as that
 * unit's backward has consumed them, so a micro-batch's boundary activations leave one by one during backward
 * instead of at the end of the step.
 *
 * <p>Tensor parallelism: where a unit's forward ran a collective, the model recorded a {@link GraphCut} in the
 * {@link ForwardContext}. The unit's backward then runs in pieces: from its output, then from each cut's source in
 * reverse order with the conjugate collective applied to the gradient that reached the cut's leaf (autograd's
 * graph is kept between the pieces, since they share nodes such as the residual stream, and released when the
 * unit's tensors are closed). Gradients are linear, so the pieces add up to the one backward of the unit.
 */
public final class UnitRunner {
    private final CausalLm model;
    private final List<ModelUnit> units;
    private final UnitHooks hooks;
    private final boolean checkpointing;
    private final long lossChunkElements;
    private long unitForwards;

    /**
     * @param model the model (its units in forward order and its loss)
     * @param hooks strategy hooks
     * @param checkpointing recompute decoder layers in backward
     */
    public UnitRunner(CausalLm model, UnitHooks hooks, boolean checkpointing) {
        this(model, hooks, checkpointing, 0);
    }

    /**
     * @param model the model (its units in forward order and its loss)
     * @param hooks strategy hooks
     * @param checkpointing recompute decoder layers in backward
     * @param lossChunkElements above 0: compute the output projection and the loss in chunks of at most this many
     *                          logits ({@link ChunkedCrossEntropy}) instead of from the whole logits
     */
    public UnitRunner(CausalLm model, UnitHooks hooks, boolean checkpointing, long lossChunkElements) {
        this.model = model;
        this.units = model.units();
        this.hooks = hooks;
        this.checkpointing = checkpointing;
        this.lossChunkElements = lossChunkElements;
    }

    /** How many unit forwards this runner has run, recomputations included (what checkpointing costs). */
    public long unitForwards() {
        return unitForwards;
    }

    /**
     * Forward and backward of one micro-batch; gradients accumulate into the parameters.
     *
     * @param targets [B, T] next-token targets of each position ({@code MicroBatch.targets()})
     * @param normalizer the loss is the summed cross entropy divided by this (the step's label tokens)
     * @return the summed (not normalised) loss of the micro-batch
     */
    public double forwardBackward(Tensor inputIds, Tensor targets, ForwardContext ctx, double normalizer,
                                  boolean lastMicroStep) {
        int n = units.size();
        Tensor[] inputs = new Tensor[n];
        Tensor[] outputs = new Tensor[n];
        List<List<GraphCut>> cuts = new ArrayList<>(n);
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
            } else if (lossChunkElements > 0 && i == n - 1) {
                unitForwards++;
                outputs[i] = model.head().hidden(in, ctx); // the logits are made chunk by chunk in backward
            } else {
                outputs[i] = forward(u, in, ctx);
            }
            hooks.afterForward(u);
            cuts.add(ctx.takeCuts());
            h = outputs[i];
        }
        double lossSum;
        ModelUnit head = units.get(n - 1);
        if (lossChunkElements > 0) {
            hooks.beforeBackward(head); // the output weight is read now, chunk by chunk
            try (Tensor leaf = outputs[n - 1].detach()) {
                leaf.requires_grad_(true);
                lossSum = ChunkedCrossEntropy.lossSum(leaf, model.head().outputWeight(), targets,
                        model.parallelism(), normalizer, true, lossChunkElements);
                try (Tensor hiddenGrad = ownedGrad(leaf)) {
                    backward(outputs[n - 1], hiddenGrad, cuts.get(n - 1));
                }
            }
        } else {
            try (Tensor sum = model.targetLossSum(outputs[n - 1], targets);
                 Tensor scaled = sum.div(Tensors.scalar(normalizer))) {
                lossSum = sum.item_double();
                hooks.beforeBackward(head);
                backward(scaled, null, cuts.get(n - 1));
            }
        }
        outputs[n - 1].close();
        hooks.afterBackward(head, lastMicroStep);
        Tensor grad = ownedGrad(inputs[n - 1]);
        inputs[n - 1].close();
        for (int i = n - 2; i >= 0; i--) {
            ModelUnit u = units.get(i);
            hooks.beforeBackward(u);
            Tensor out = outputs[i];
            List<GraphCut> unitCuts = cuts.get(i);
            if (recomputed[i]) {
                out.close();
                out = forward(u, inputs[i], ctx);
                unitCuts = ctx.takeCuts();
            }
            backward(out, grad, unitCuts);
            out.close();
            grad.close();
            hooks.afterBackward(u, lastMicroStep);
            if (i > 0) {
                grad = ownedGrad(inputs[i]);
                inputs[i].close();
            }
        }
        return lossSum;
    }

    /**
     * Backward of one unit: from {@code root} (with {@code grad}, or a scalar loss when null), then across the
     * unit's cuts in reverse order; closes the cuts' tensors.
     */
    private static void backward(Tensor root, Tensor grad, List<GraphCut> cuts) {
        // a unit of frozen parameters fed by token ids (the embedding of an adapter run) has nothing to
        // differentiate: its output, or a cut's source, then takes no part in autograd (the same on every rank)
        if (root.requires_grad()) {
            backwardFrom(root, grad, !cuts.isEmpty());
        }
        for (int c = cuts.size() - 1; c >= 0; c--) {
            GraphCut cut = cuts.get(c);
            if (!cut.source().requires_grad() || !cut.leaf().grad().defined()) {
                cut.leaf().close();
                cut.source().close();
                continue;
            }
            try (Tensor leafGrad = ownedGrad(cut.leaf());
                 Tensor sourceGrad = cut.gradientOfSource().apply(leafGrad)) {
                backwardFrom(cut.source(), sourceGrad, c > 0);
            }
            cut.leaf().close();
            cut.source().close();
        }
    }

    /**
     * A handle of its own on {@code t}'s gradient: {@code grad()} returns a reference into {@code t}'s autograd
     * metadata, which dies with {@code t}, so it is copied (a new reference to the same storage) before {@code t}
     * is closed.
     */
    private static Tensor ownedGrad(Tensor t) {
        return new Tensor(t.grad());
    }

    private static void backwardFrom(Tensor root, Tensor grad, boolean keepGraph) {
        // the vectors hold references: closed here so the activation and its gradient go now
        try (TensorVector outs = new TensorVector(root);
             TensorVector grads = grad == null ? new TensorVector() : new TensorVector(grad);
             TensorVector inputsOf = new TensorVector();
             BoolOptional retain = keepGraph ? new BoolOptional(true) : new BoolOptional()) {
            torch.backward(outs, grads, retain, false, inputsOf);
        }
    }

    private Tensor forward(ModelUnit u, Tensor in, ForwardContext ctx) {
        unitForwards++;
        return u.forward(in, ctx);
    }

    /**
     * Summed cross entropy of one batch against its next-token targets ({@code MicroBatch.targets()}) without
     * autograd, unit by unit through the hooks (a strategy that
     * partitions parameters gathers each unit's before it runs and frees them after), closing each intermediate
     * output as soon as the next unit has consumed it.
     */
    public static double evalLossSum(CausalLm model, UnitHooks hooks, Tensor inputIds, Tensor targets,
                                     ForwardContext ctx) {
        return evalLossSum(model, hooks, inputIds, targets, ctx, 0);
    }

    /**
     * As {@link #evalLossSum(CausalLm, UnitHooks, Tensor, Tensor, ForwardContext)}, with the loss in chunks of at
     * most {@code lossChunkElements} logits when above 0.
     */
    public static double evalLossSum(CausalLm model, UnitHooks hooks, Tensor inputIds, Tensor targets,
                                     ForwardContext ctx, long lossChunkElements) {
        List<ModelUnit> units = model.units();
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor h = inputIds;
            for (int i = 0; i < units.size(); i++) {
                ModelUnit u = units.get(i);
                hooks.beforeForward(u);
                if (lossChunkElements > 0 && i == units.size() - 1) {
                    try (Tensor hidden = model.head().hidden(h, ctx)) {
                        double sum = ChunkedCrossEntropy.lossSum(hidden, model.head().outputWeight(), targets,
                                model.parallelism(), 1.0, false, lossChunkElements);
                        hooks.afterEvaluationForward(u);
                        if (i > 0) {
                            h.close();
                        }
                        return sum;
                    }
                }
                Tensor next = u.forward(h, ctx);
                hooks.afterEvaluationForward(u);
                if (i > 0) {
                    h.close();
                }
                h = next;
            }
            try (Tensor logits = h; Tensor sum = model.targetLossSum(logits, targets)) {
                return sum.item_double();
            }
        }
    }
}
