package ai.axolotl.train;

import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.data.RowPacker;
import ai.axolotl.data.TokenizedDataset;
import ai.axolotl.data.Tokenizer;
import ai.axolotl.data.Tokenizers;
import ai.axolotl.data.TrainingData;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.LlamaModel;
import ai.axolotl.runtime.Natives;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Token-weighted mean loss over every label token of a set of rows, without autograd. */
public final class Evaluation {
    private Evaluation() {}

    /** Evaluates rows in batches; with several data-parallel ranks each takes every N-th batch and sums. */
    public static EvalResult run(LlamaModel model, List<PackedRow> rows, int batchSize, int padId, ScalarType compute,
                                 TrainingStrategy strategy) {
        double lossSum = 0;
        long tokens = 0;
        List<List<PackedRow>> batches = TrainingData.batches(rows, batchSize);
        for (int i = 0; i < batches.size(); i++) {
            if (strategy != null && i % strategy.dataParallelSize() != strategy.dataParallelRank()) {
                continue;
            }
            try (PointerScope scope = new PointerScope();
                 MicroBatch mb = MicroBatch.of(batches.get(i), 0, padId);
                 ForwardContext ctx = new ForwardContext(mb.positionIds(), mb.segmentIds(), model.config(), compute)) {
                lossSum += UnitRunner.evalLossSum(model.units(), mb.inputIds(), mb.labels(), ctx);
                tokens += mb.labelTokens();
            }
        }
        if (strategy != null) {
            lossSum = strategy.allReduceSum(lossSum);
            tokens = Math.round(strategy.allReduceSum(tokens));
        }
        return new EvalResult(tokens == 0 ? Double.NaN : lossSum / tokens, tokens);
    }

    /**
     * {@code axolotl evaluate}: loss of a model over every example of the config's datasets.
     *
     * @param config the run's config (datasets, tokenizer, sequence_len, packing)
     * @param modelDir an exported model or a checkpoint-&lt;step&gt; directory; null: the config's output_dir
     */
    public static EvalResult evaluateConfig(AxolotlConfig config, Path modelDir, int threads) {
        Natives.setThreads(threads);
        Path dir = modelDir != null ? modelDir : Path.of(config.checkpoint().outputDir());
        if (!HfCheckpoint.isModelDir(dir)) {
            throw new TrainingException("--checkpoint: '" + dir + "' is not a model directory (config.json and "
                    + "model.safetensors expected; pass an exported model or a checkpoint-<step> directory)");
        }
        try (LlamaModel model = HfCheckpoint.load(dir)) {
            Tokenizer tok = Tokenizers.forConfig(config);
            TokenizedDataset ds = TokenizedDataset.load(config, tok, model.config().vocabSize());
            List<PackedRow> rows = RowPacker.pack(ds.examples(), config.data().sequenceLen(),
                    config.data().samplePacking());
            ScalarType compute = Trainer.computeType(config);
            return run(model, rows, config.training().evalBatchSize(), tok.padId(), compute, null);
        } catch (IOException e) {
            throw new TrainingException("cannot read " + dir + ": " + e.getMessage(), e);
        } catch (ai.axolotl.data.DataException e) {
            throw new TrainingException(e.getMessage(), e);
        }
    }
}
