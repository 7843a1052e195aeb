package ai.axolotl.sharding.partition;

import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.train.optim.LowBitFormat;
import ai.axolotl.train.optim.Moment;
import ai.axolotl.train.optim.QuantizedMoment;
import ai.axolotl.model.Safetensors;
import ai.axolotl.sharding.SavedSlice;
import ai.axolotl.train.TrainingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sharded checkpoints of the partitioned strategies: every rank of the shard group writes its own partition of
 * the fp32 parameters and of the optimizer moments ({@code <dir>/rank<r>.safetensors}: {@code param/NAME},
 * {@code exp_avg/NAME}, {@code exp_avg_sq/NAME}), no gathering; rank 0 adds {@code <dir>/meta.json} (world,
 * partitioning, each tensor's global shape and chunk, optimizer steps) and the model's {@code config.json}.
 * Loading reads, for every tensor, only the byte ranges of the saved partitions that overlap the rank's partition
 * at the current world size and layout (reshard on load: at the same world size that is its own file), so a rank
 * holds its partitions and nothing more. {@link #open} reads whole tensors of any saved layout (for resuming on another
 * mesh and for consolidation, see {@code MeshCheckpoint}).
 */
public final class PartitionCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final String[] KINDS = {"param", "exp_avg", "exp_avg_sq"};

    private PartitionCheckpoint() {}

    static void save(Path dir, PartitionedLayer s, boolean includeOptimizer) throws IOException {
        String sub = s.plan().checkpointDir();
        Path z = dir.resolve(sub);
        Files.createDirectories(z);
        int rank = s.shardGroup().rank();
        if (s.writesPartitions()) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (ShardedParameter p : s.sharded().values()) {
                out.put("param/" + p.name(), p.shard().detach());
                if (includeOptimizer && s.optimizer().firstMoment(p.name()) != null) {
                    s.optimizer().firstMoment(p.name()).state().forEach((k, t) ->
                            out.put("exp_avg" + (k.isEmpty() ? "" : "." + k) + "/" + p.name(), t));
                    s.optimizer().secondMoment(p.name()).state().forEach((k, t) ->
                            out.put("exp_avg_sq" + (k.isEmpty() ? "" : "." + k) + "/" + p.name(), t));
                }
            }
            Safetensors.write(z.resolve("rank" + rank + ".safetensors"), out, Map.of("format", "pt"));
        }
        if (s.dataParallelRank() == 0) { // rank 0, or the first data-parallel rank of each tensor-parallel slice
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("strategy", s.name());
            meta.put("world", s.shardGroup().size());
            meta.put("row_aligned", s.plan().rowAligned());
            meta.put("optimizer_steps", s.optimizer().steps());
            meta.put("has_optimizer", includeOptimizer);
            meta.put("optimizer", s.optimizer().name());
            if (s.optimizer().lowBit() != null) {
                meta.put("low_bit_optimizer", s.optimizer().lowBit().name());
            }
            List<Map<String, Object>> params = new ArrayList<>();
            for (ShardedParameter p : s.sharded().values()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("name", p.name());
                m.put("shape", p.shape());
                m.put("numel", p.numel());
                m.put("chunk", p.chunk());
                params.add(m);
            }
            meta.put("params", params);
            JSON.writeValue(z.resolve("meta.json").toFile(), meta);
            s.model().config().write(dir.resolve(HfCheckpoint.CONFIG));
        }
    }

    /**
     * One moment's partition: fp32 as the parameter; a low-bit moment's codes (one or half a byte per element) and
     * block absmax (one per 256 elements), each read from the saved partitions by its own density, so a checkpoint
     * reshards to another world size (every partition is a whole number of blocks).
     */
    private static void readMoment(SavedPartitions saved, String kind, ShardedParameter p, Moment m, int rank)
            throws IOException {
        if (m instanceof QuantizedMoment q) {
            long perCode = q.codes().numel() == p.chunk() ? 1 : 2;
            saved.readScaledPartition(kind + ".codes/" + p.name(), p.name(), rank, q.codes(), perCode,
                    (p.numel() + perCode - 1) / perCode);
            saved.readScaledPartition(kind + ".absmax/" + p.name(), p.name(), rank, q.absmax(),
                    LowBitFormat.BLOCK, (p.numel() + LowBitFormat.BLOCK - 1) / LowBitFormat.BLOCK);
        } else {
            saved.readPartition(kind + "/" + p.name(), rank, p.chunk(), m.state().get(""));
        }
    }

    /** The sub-directory of {@code dir} that holds partitions, or null. */
    public static Path partitionDir(Path dir) {
        for (String sub : new String[] {"zero", "fsdp"}) {
            if (Files.isRegularFile(dir.resolve(sub).resolve("meta.json"))) {
                return dir.resolve(sub);
            }
        }
        return null;
    }

    static void load(Path dir, PartitionedLayer s) throws IOException {
        Path z = dir.resolve(s.plan().checkpointDir());
        if (!Files.isRegularFile(z.resolve("meta.json"))) {
            throw new TrainingException("resume_from_checkpoint: " + dir + " has no " + s.plan().checkpointDir()
                    + "/meta.json; it was not written by a " + s.name() + " run");
        }
        JsonNode meta = JSON.readTree(z.resolve("meta.json").toFile());
        if (!meta.path("has_optimizer").asBoolean(true)) {
            throw new TrainingException(dir + " holds no optimizer state (save_only_model); it cannot be resumed");
        }
        String savedLowBit = meta.path("low_bit_optimizer").asText("");
        String lowBit = s.optimizer().lowBit() == null ? "" : s.optimizer().lowBit().name();
        if (!savedLowBit.equals(lowBit)) {
            throw new TrainingException("resume_from_checkpoint: " + dir + " holds the state of optimizer "
                    + meta.path("optimizer").asText(savedLowBit.isEmpty() ? "adamw" : savedLowBit) + "; this run's "
                    + "optimizer " + s.optimizer().name() + " keeps its moments in another format and cannot "
                    + "continue it");
        }
        SavedPartitions saved = new SavedPartitions(z, meta);
        int rank = s.shardGroup().rank();
        try (NoGradGuard g = new NoGradGuard()) {
            for (ShardedParameter p : s.sharded().values()) {
                saved.readPartition("param/" + p.name(), rank, p.chunk(), p.shard().detach());
                if (s.optimizer().firstMoment(p.name()) != null) {
                    readMoment(saved, "exp_avg", p, s.optimizer().firstMoment(p.name()), rank);
                    readMoment(saved, "exp_avg_sq", p, s.optimizer().secondMoment(p.name()), rank);
                }
            }
        }
        s.optimizer().setSteps(meta.path("optimizer_steps").asLong());
    }

    /**
     * Opens the partition files under {@code dir} (a checkpoint, or a tensor-parallel slice's directory in one) for
     * reading whole tensors, whatever world size and layout wrote them.
     *
     * @throws TrainingException when {@code dir} holds no {@code zero/meta.json} or {@code fsdp/meta.json}
     */
    public static Reader open(Path dir) throws IOException {
        Path z = partitionDir(dir);
        if (z == null) {
            throw new TrainingException(dir + ": not a sharded checkpoint (no zero/meta.json or fsdp/meta.json)");
        }
        return new Reader(z, JSON.readTree(z.resolve("meta.json").toFile()));
    }

    /** Whole tensors of one saved partition layout, assembled from every rank's file one tensor at a time. */
    public static final class Reader implements SavedSlice {
        private final Path dir;
        private final JsonNode meta;
        private final SavedPartitions saved;
        private final Map<String, long[]> shapes = new LinkedHashMap<>();

        Reader(Path dir, JsonNode meta) {
            this.dir = dir;
            this.meta = meta;
            this.saved = new SavedPartitions(dir, meta);
            for (JsonNode p : meta.get("params")) {
                long[] shape = new long[p.get("shape").size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = p.get("shape").get(i).asLong();
                }
                shapes.put(p.get("name").asText(), shape);
            }
        }

        /** The strategy that wrote the partitions ({@code fsdp2}, {@code zero3}, ...). */
        @Override
        public String strategy() {
            return meta.path("strategy").asText("?");
        }

        /** Optimizer steps taken when the checkpoint was written. */
        @Override
        public long optimizerSteps() {
            return meta.path("optimizer_steps").asLong();
        }

        /** False when the checkpoint was saved without optimizer state ({@code save_only_model}). */
        @Override
        public boolean hasOptimizer() {
            return meta.path("has_optimizer").asBoolean(true);
        }

        /**
         * The whole saved tensor {@code kind/name} ({@code kind}: {@code param}, {@code exp_avg}, {@code exp_avg_sq})
         * in its saved shape; the caller closes it.
         */
        @Override
        public Tensor readWhole(String kind, String name) throws IOException {
            long[] shape = shape(name);
            try (Tensor flat = saved.readWhole(kind + "/" + name)) {
                return flat.view(shape); // the view keeps the storage alive after the flat handle is closed
            }
        }

        /**
         * Entries {@code [from, from + len)} along dimension {@code dim} of saved tensor {@code kind/name}, in the
         * saved shape with that dimension cut; only those bytes are read (the caller closes it).
         */
        @Override
        public Tensor readSlice(String kind, String name, int dim, long from, long len) throws IOException {
            long[] shape = shape(name);
            if (dim >= shape.length || from < 0 || len < 0 || from + len > shape[dim]) {
                throw new TrainingException(dir + ": '" + name + "' has " + (dim < shape.length ? shape[dim] : 0)
                        + " entries along dimension " + dim + "; asked for [" + from + ", " + (from + len) + ")");
            }
            long[] cut = shape.clone();
            cut[dim] = len;
            try (Tensor flat = saved.readSlice(kind + "/" + name, shape, dim, from, len)) {
                return flat.view(cut);
            }
        }

        /** The saved shape of parameter {@code name}. */
        @Override
        public long[] shape(String name) {
            long[] shape = shapes.get(name);
            if (shape == null) {
                throw new TrainingException(dir + ": the checkpoint has no parameter '" + name + "' (meta.json)");
            }
            return shape.clone();
        }

        /** Bytes this reader has read from the partition files. */
        @Override
        public long bytesRead() {
            return saved.bytesRead();
        }
    }
}
