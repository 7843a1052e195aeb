package ai.axolotl.model;

import org.bytedeco.pytorch.Tensor;

import java.util.function.UnaryOperator;

/**
 * A point inside a unit's forward where a collective ran and autograd's graph is cut: {@code leaf} (a new leaf
 * that requires grad, holding the collective's result) stands for {@code source} downstream. Java cannot define
 * autograd functions, so the runner carries the gradient across the cut itself: after backward has filled
 * {@code leaf.grad()}, it applies the conjugate collective ({@code gradientOfSource}) and continues backward from
 * {@code source} with the result.
 *
 * @param source the tensor the collective read (still in the graph)
 * @param leaf the collective's result, a leaf the rest of the forward uses
 * @param gradientOfSource maps the leaf's gradient to the source's (reduce-scatter for an all-gather, all-gather
 *     for a reduce-scatter, all-reduce for a copy, identity for an all-reduce); returns a new tensor
 */
public record GraphCut(Tensor source, Tensor leaf, UnaryOperator<Tensor> gradientOfSource) {}
