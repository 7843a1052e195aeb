package ai.axolotl.train;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * libtorch's AdamW state in its own file format ({@code optimizer.pt}, what {@code Optimizer.save} writes), read
 * and written by parameter name, so that a checkpoint of one process or of data parallel can move to another mesh
 * and back. The format keys each parameter's state by an opaque string ({@code state/<key>/exp_avg},
 * {@code exp_avg_sq}, {@code step}) and lists those keys per parameter group in parameter order
 * ({@code param_groups} / {@code param_groups/<g>} / {@code params/<j>}); the parameters' names come from the group order
 * {@link OptimizerFactory} builds ({@link OptimizerFactory#groupOrder}).
 */
public final class AdamWArchive {
    private AdamWArchive() {}

    /**
     * One parameter's AdamW state, as whole tensors of the parameter's shape.
     *
     * @param expAvg first moment
     * @param expAvgSq second moment
     * @param step updates applied to this parameter
     */
    public record Moments(Tensor expAvg, Tensor expAvgSq, long step) implements AutoCloseable {
        @Override
        public void close() {
            expAvg.close();
            expAvgSq.close();
        }
    }

    /**
     * Reads every parameter's moments from an {@code optimizer.pt} whose groups hold, in order, the parameters
     * {@code names} lists (the optimizer's parameters, group after group); a parameter never updated has none. The
     * caller closes the moments.
     *
     * @throws TrainingException naming the file when it does not hold AdamW state over that many parameters
     */
    public static Map<String, Moments> read(Path file, List<String> names) {
        InputArchive archive = new InputArchive();
        try {
            archive.load_from(file.toString());
        } catch (RuntimeException e) { // libtorch's c10::Error, with its C++ frames in the message
            throw OptimizerFactory.unreadable(file, e);
        }
        List<String> keys = parameterKeys(archive, file);
        if (keys.size() != names.size()) {
            throw new TrainingException(file + ": optimizer state over " + keys.size() + " parameters, but the model "
                    + "has " + names.size() + " here; not the same model");
        }
        InputArchive state = new InputArchive();
        Map<String, Moments> out = new LinkedHashMap<>();
        if (!archive.try_read("state", state)) {
            return out; // no step taken yet
        }
        for (int i = 0; i < keys.size(); i++) {
            InputArchive one = new InputArchive();
            if (!state.try_read(keys.get(i), one)) {
                continue;
            }
            Tensor expAvg = new Tensor();
            Tensor expAvgSq = new Tensor();
            IValue step = new IValue();
            if (!one.try_read("exp_avg", expAvg) || !one.try_read("exp_avg_sq", expAvgSq)
                    || !one.try_read("step", step)) {
                throw new TrainingException(file + ": the state of '" + names.get(i) + "' is not AdamW's "
                        + "(exp_avg, exp_avg_sq, step); only AdamW state moves between meshes");
            }
            out.put(names.get(i), new Moments(expAvg, expAvgSq, step.toInt()));
        }
        return out;
    }

    /**
     * Loads moments by parameter name into {@code optimizer} (libtorch's AdamW as {@link OptimizerFactory} builds
     * it over the parameters {@code names} lists, in group order): an archive in libtorch's format is written with
     * the optimizer's own parameter keys and group options, and the optimizer loads it. Parameters without moments
     * start without state, as before their first update.
     */
    public static void load(Optimizer optimizer, List<String> names, Map<String, Moments> moments) throws IOException {
        Path own = Files.createTempFile("axolotl-adamw-", ".pt");
        Path built = Files.createTempFile("axolotl-adamw-", ".pt");
        try {
            OutputArchive current = new OutputArchive();
            optimizer.save(current); // its groups and options, keyed by its own parameters
            current.save_to(own.toString());
            InputArchive mine = new InputArchive();
            mine.load_from(own.toString());
            List<String> keys = parameterKeys(mine, own);
            if (keys.size() != names.size()) {
                throw new IllegalArgumentException(names.size() + " names for an optimizer over " + keys.size()
                        + " parameters");
            }
            OutputArchive out = new OutputArchive();
            copy(mine, out, "state");
            OutputArchive state = new OutputArchive();
            for (int i = 0; i < keys.size(); i++) {
                Moments m = moments.get(names.get(i));
                if (m == null) {
                    continue;
                }
                OutputArchive one = new OutputArchive();
                one.write("step", new IValue(m.step()));
                one.write("exp_avg", m.expAvg(), true);
                one.write("exp_avg_sq", m.expAvgSq(), true);
                state.write(keys.get(i), one);
            }
            out.write("state", state);
            out.save_to(built.toString());
            InputArchive in = new InputArchive();
            in.load_from(built.toString());
            optimizer.load(in);
        } finally {
            Files.deleteIfExists(own);
            Files.deleteIfExists(built);
        }
    }

    /**
     * The state keys of the optimizer's parameters, group after group, each group in parameter order. libtorch
     * names the groups {@code param_groups/<g>} inside {@code param_groups}, and a group's keys
     * {@code params/<j>} (flat names with a slash, not nested archives).
     */
    private static List<String> parameterKeys(InputArchive archive, Path file) {
        InputArchive groups = new InputArchive();
        if (!archive.try_read("param_groups", groups)) {
            throw new TrainingException(file + ": not an optimizer state file of libtorch (no param_groups)");
        }
        List<String> keys = new ArrayList<>();
        for (int g = 0; ; g++) {
            InputArchive group = new InputArchive();
            if (!groups.try_read("param_groups/" + g, group)) {
                return keys;
            }
            for (int j = 0; ; j++) {
                IValue key = new IValue();
                if (!group.try_read("params/" + j, key)) {
                    break;
                }
                keys.add(key.toStringRef().getString());
            }
        }
    }

    /** Copies every entry of {@code from} into {@code to} except {@code skip}, sub-archives recursively. */
    private static void copy(InputArchive from, OutputArchive to, String skip) {
        StringVector keys = from.keys();
        for (long i = 0; i < keys.size(); i++) {
            String k;
            try (BytePointer p = keys.get(i)) {
                k = p.getString();
            }
            if (k.equals(skip)) {
                continue;
            }
            InputArchive sub = new InputArchive();
            if (from.try_read(k, sub)) {
                OutputArchive copied = new OutputArchive();
                copy(sub, copied, null);
                to.write(k, copied);
                continue;
            }
            Tensor t = new Tensor();
            if (from.try_read(k, t)) {
                to.write(k, t, true);
                continue;
            }
            IValue v = new IValue();
            from.read(k, v);
            to.write(k, v);
        }
    }
}
