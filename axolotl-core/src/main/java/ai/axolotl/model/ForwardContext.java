package ai.axolotl.model;

import ai.axolotl.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.List;

/**
 * Per-micro-batch state shared by every unit's forward: the attention mask that keeps tokens inside their own
 * packed sample and the rotary tables for each token's position.
 *
 * <p>Made once per micro-batch from position and segment ids; its tensors are released by {@link #close()}.
 */
public final class ForwardContext implements AutoCloseable {
    private final Tensor mask;
    private final Tensor cos;
    private final Tensor sin;
    private final ScalarType computeType;
    private final List<GraphCut> cuts = new ArrayList<>();

    /**
     * @param positionIds [B, T] long positions, restarting at 0 for each packed sample
     * @param segmentIds [B, T] long sample ids; tokens attend only within their own segment
     * @param config the model's shape
     * @param computeType the element type activations are computed in
     */
    public ForwardContext(Tensor positionIds, Tensor segmentIds, LlamaConfig config, ScalarType computeType) {
        this.computeType = computeType;
        long t = segmentIds.size(1);
        try (Tensor same = segmentIds.unsqueeze(2).eq(segmentIds.unsqueeze(1));
             Tensor ones = torch.ones(new long[] {t, t}, Tensors.optionsOn(ScalarType.Bool, segmentIds));
             Tensor causal = torch.tril(ones)) {
            this.mask = same.logical_and(causal).unsqueeze(1);
        }
        Tensor[] table = RotaryEmbedding.cosSin(positionIds, config.headDim(), config.ropeTheta(), computeType);
        this.cos = table[0];
        this.sin = table[1];
    }

    /** [B, 1, T, T] boolean mask, true where a query may attend to a key. */
    public Tensor mask() {
        return mask;
    }

    /** [B, 1, T, head_dim] cosines of the rotary angles. */
    public Tensor cos() {
        return cos;
    }

    /** [B, 1, T, head_dim] sines of the rotary angles. */
    public Tensor sin() {
        return sin;
    }

    /** Element type of activations. */
    public ScalarType computeType() {
        return computeType;
    }

    /** Records a cut made during the running unit's forward (called by a {@link ModelParallelism}). */
    public void recordCut(GraphCut cut) {
        cuts.add(cut);
    }

    /** The cuts recorded since the last call, in the order they were made; the caller owns their tensors. */
    public List<GraphCut> takeCuts() {
        List<GraphCut> taken = List.copyOf(cuts);
        cuts.clear();
        return taken;
    }

    @Override
    public void close() {
        for (GraphCut c : takeCuts()) {
            c.source().close();
            c.leaf().close();
        }
        mask.close();
        cos.close();
        sin.close();
    }
}
