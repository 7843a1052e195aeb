package ai.axolotl.train;

import ai.axolotl.model.CausalLm;
import ai.axolotl.config.AdapterSettings;
import ai.axolotl.config.AxolotlConfig;
import ai.axolotl.model.adapter.Adapters;
import ai.axolotl.data.DataException;
import ai.axolotl.data.MicroBatch;
import ai.axolotl.data.PackedRow;
import ai.axolotl.data.RowPacker;
import ai.axolotl.data.TokenizedDataset;
import ai.axolotl.data.Tokenizer;
import ai.axolotl.data.Tokenizers;
import ai.axolotl.data.TrainingData;
import ai.axolotl.model.ForwardContext;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.ModelUnit;
import ai.axolotl.runtime.Device;
import ai.axolotl.runtime.Natives;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Token-weighted mean loss over every label token of a set of rows, without autograd. */
public final class Evaluation {
    private Evaluation() {}

    /**
     * Evaluates rows in batches through the strategy's hooks (a strategy that partitions parameters gathers and
     * frees them unit by unit, as in training). With several data-parallel ranks each takes every N-th batch and
     * the sums are added; every rank runs the same number of rounds, and a rank without a batch in the last round
     * still takes part in the unit hooks' collectives, so no rank waits for a gather the others never start.
     *
     * @param strategy the run's strategy, or null for one process without hooks
     * @param lossChunkElements above 0: the output projection and loss in chunks of at most this many logits
     *                          ({@link Trainer#lossChunkElements})
     */
    public static EvalResult run(CausalLm model, List<PackedRow> rows, int batchSize, int padId, ScalarType compute,
                                 ShardingStrategy strategy, long lossChunkElements) {
        UnitHooks hooks = strategy != null ? strategy.hooks() : UnitHooks.NONE;
        int ranks = strategy != null ? strategy.dataParallelSize() : 1;
        int rank = strategy != null ? strategy.dataParallelRank() : 0;
        Device device = model.device();
        double lossSum = 0;
        long tokens = 0;
        List<List<PackedRow>> batches = TrainingData.batches(rows, batchSize);
        int rounds = (batches.size() + ranks - 1) / ranks;
        for (int round = 0; round < rounds; round++) {
            int i = round * ranks + rank;
            if (i >= batches.size()) {
                for (ModelUnit u : model.units()) {
                    hooks.beforeForward(u);
                    hooks.afterEvaluationForward(u);
                }
                continue;
            }
            try (PointerScope scope = new PointerScope();
                 MicroBatch mb = strategy != null
                         ? strategy.microBatch(batches.get(i), 0, padId, model.parallelism().sequenceMultiple(), device)
                         : MicroBatch.of(batches.get(i), 0, padId, model.parallelism().sequenceMultiple(), device);
                 ForwardContext ctx = new ForwardContext(mb.positionIds(), mb.segmentIds(), mb.queryIndex(),
                         mb.keyIndex(), mb.keySegments(), model.config(), compute)) {
                lossSum += UnitRunner.evalLossSum(model, hooks, mb.inputIds(), mb.targets(), ctx,
                        lossChunkElements);
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
    public static EvalResult evaluateConfig(AxolotlConfig given, Path modelDir, int threads) {
        Natives.setThreads(threads);
        AxolotlConfig config = ai.axolotl.hub.HubResolver.resolveFromEnvironment(given, System.err::println);
        Path dir = modelDir != null ? modelDir : Path.of(config.checkpoint().outputDir());
        AdapterSettings adapter = config.model().adapter();
        if (adapter.lora()) {
            // base_model + the adapter: the given directory, else lora_model_dir, else output_dir
            Path adapterDir = modelDir != null ? modelDir : adapter.loraModelDir() != null
                    ? Path.of(adapter.loraModelDir()) : dir;
            try (CausalLm model = Adapters.apply(ModelLoader.load(config),
                    adapter.withLoraModelDir(adapterDir.toString()), config.training().seed(), System.err::println)) {
                return evaluate(config, model);
            } catch (IllegalArgumentException e) {
                throw new TrainingException(e.getMessage(), e);
            }
        }
        if (!HfCheckpoint.isModelDir(dir)) {
            throw new TrainingException("--checkpoint: '" + dir + "' is not a model directory (config.json and "
                    + "model.safetensors expected; pass an exported model or a checkpoint-<step> directory)");
        }
        try (CausalLm model = HfCheckpoint.load(dir)) {
            return evaluate(config, model);
        } catch (IOException e) {
            throw new TrainingException("cannot read " + dir + ": " + e.getMessage(), e);
        }
    }

    private static EvalResult evaluate(AxolotlConfig config, CausalLm model) {
        try {
            Tokenizer tok = Tokenizers.forConfig(config);
            TokenizedDataset ds = TokenizedDataset.load(config, tok, model.config().vocabSize());
            List<PackedRow> rows = RowPacker.pack(ds.examples(), config.data().sequenceLen(),
                    config.data().samplePacking());
            ScalarType compute = Trainer.computeType(config);
            return run(model, rows, config.training().evalBatchSize(), tok.padId(), compute, null,
                    Trainer.lossChunkElements(config));
        } catch (DataException e) {
            throw new TrainingException(e.getMessage(), e);
        }
    }
}
