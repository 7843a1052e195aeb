package ai.axolotl.sharding.partition;

import ai.axolotl.model.DType;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.LlamaConfig;
import ai.axolotl.model.Safetensors;
import ai.axolotl.train.TrainingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

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
 * Loading at the same world size reads the rank's own file; at another world size every rank rebuilds the full
 * tensors from all files and takes its new partition (reshard on load). {@link #consolidate} writes the full
 * fp32 model as HF safetensors without a process group.
 */
public final class PartitionCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final String[] KINDS = {"param", "exp_avg", "exp_avg_sq"};

    private PartitionCheckpoint() {}

    static void save(Path dir, PartitionedStrategy s, boolean includeOptimizer) throws IOException {
        String sub = s.plan().checkpointDir();
        Path z = dir.resolve(sub);
        Files.createDirectories(z);
        int rank = s.shardGroup().rank();
        if (s.writesPartitions()) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (ShardedParameter p : s.sharded().values()) {
                out.put("param/" + p.name(), p.shard().detach());
                if (includeOptimizer && s.optimizer().expAvg(p.name()) != null) {
                    out.put("exp_avg/" + p.name(), s.optimizer().expAvg(p.name()));
                    out.put("exp_avg_sq/" + p.name(), s.optimizer().expAvgSq(p.name()));
                }
            }
            Safetensors.write(z.resolve("rank" + rank + ".safetensors"), out, Map.of("format", "pt"));
        }
        if (s.rank() == 0) {
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("strategy", s.name());
            meta.put("world", s.shardGroup().size());
            meta.put("row_aligned", s.plan().rowAligned());
            meta.put("optimizer_steps", s.optimizer().steps());
            meta.put("has_optimizer", includeOptimizer);
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

    /** The sub-directory of {@code dir} that holds partitions, or null. */
    public static Path partitionDir(Path dir) {
        for (String sub : new String[] {"zero", "fsdp"}) {
            if (Files.isRegularFile(dir.resolve(sub).resolve("meta.json"))) {
                return dir.resolve(sub);
            }
        }
        return null;
    }

    static void load(Path dir, PartitionedStrategy s) throws IOException {
        Path z = dir.resolve(s.plan().checkpointDir());
        if (!Files.isRegularFile(z.resolve("meta.json"))) {
            throw new TrainingException("resume_from_checkpoint: " + dir + " has no " + s.plan().checkpointDir()
                    + "/meta.json; it was not written by a " + s.name() + " run");
        }
        JsonNode meta = JSON.readTree(z.resolve("meta.json").toFile());
        if (!meta.path("has_optimizer").asBoolean(true)) {
            throw new TrainingException(dir + " holds no optimizer state (save_only_model); it cannot be resumed");
        }
        int world = meta.get("world").asInt();
        int now = s.shardGroup().size();
        int rank = s.shardGroup().rank();
        Map<String, Tensor> mine;
        if (world == now && meta.path("row_aligned").asBoolean() == s.plan().rowAligned()) {
            mine = Safetensors.read(z.resolve("rank" + rank + ".safetensors"));
        } else {
            mine = reshard(z, meta, s, rank, now);
        }
        try (NoGradGuard g = new NoGradGuard()) {
            for (ShardedParameter p : s.sharded().values()) {
                copy(mine, "param/" + p.name(), p.shard().detach(), z);
                if (s.optimizer().expAvg(p.name()) != null) {
                    copy(mine, "exp_avg/" + p.name(), s.optimizer().expAvg(p.name()), z);
                    copy(mine, "exp_avg_sq/" + p.name(), s.optimizer().expAvgSq(p.name()), z);
                }
            }
        } finally {
            mine.values().forEach(Tensor::close);
        }
        s.optimizer().setSteps(meta.path("optimizer_steps").asLong());
    }

    private static void copy(Map<String, Tensor> from, String key, Tensor into, Path z) {
        Tensor t = from.get(key);
        if (t == null || t.numel() != into.numel()) {
            throw new TrainingException(z + ": no partition '" + key + "' of " + into.numel() + " elements");
        }
        into.copy_(t);
    }

    /** This rank's partitions for a new world size, rebuilt from every saved partition. */
    private static Map<String, Tensor> reshard(Path z, JsonNode meta, PartitionedStrategy s, int rank, int world)
            throws IOException {
        Map<String, Tensor> full = fullTensors(z, meta);
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (ShardedParameter p : s.sharded().values()) {
                for (String kind : KINDS) {
                    Tensor f = full.get(kind + "/" + p.name());
                    if (f == null) {
                        continue;
                    }
                    long chunk = p.chunk();
                    Tensor part = ai.axolotl.runtime.Tensors.zeros(chunk);
                    long start = Math.min(p.numel(), rank * chunk);
                    long len = Math.max(0, Math.min(p.numel(), start + chunk) - start);
                    if (len > 0) {
                        try (Tensor src = f.narrow(0, start, len); Tensor dst = part.narrow(0, 0, len)) {
                            dst.copy_(src);
                        }
                    }
                    out.put(kind + "/" + p.name(), part);
                }
            }
        } finally {
            full.values().forEach(Tensor::close);
        }
        return out;
    }

    /** Every saved tensor (parameters and moments), rebuilt whole and flat, by {@code kind/name}. */
    static Map<String, Tensor> fullTensors(Path z, JsonNode meta) throws IOException {
        int world = meta.get("world").asInt();
        List<Map<String, Tensor>> ranks = new ArrayList<>();
        try {
            for (int r = 0; r < world; r++) {
                Path f = z.resolve("rank" + r + ".safetensors");
                if (!Files.isRegularFile(f)) {
                    throw new TrainingException(z + ": the partition of rank " + r + " is missing (" + f + ")");
                }
                ranks.add(Safetensors.read(f));
            }
            Map<String, Tensor> full = new LinkedHashMap<>();
            for (JsonNode p : meta.get("params")) {
                for (String kind : KINDS) {
                    String key = kind + "/" + p.get("name").asText();
                    if (!ranks.get(0).containsKey(key)) {
                        continue;
                    }
                    Tensor[] parts = new Tensor[world];
                    for (int r = 0; r < world; r++) {
                        parts[r] = ranks.get(r).get(key);
                    }
                    try (Tensor flat = torch.cat(new TensorVector(parts), 0)) {
                        full.put(key, flat.narrow(0, 0, p.get("numel").asLong()).clone());
                    }
                }
            }
            return full;
        } finally {
            ranks.forEach(m -> m.values().forEach(Tensor::close));
        }
    }

    /** Rebuilds the full fp32 model of a sharded checkpoint into {@code out} (HF safetensors + config.json). */
    public static void consolidate(Path checkpoint, Path out) throws IOException {
        Path z = partitionDir(checkpoint);
        if (z == null) {
            throw new TrainingException(checkpoint + ": not a sharded checkpoint (no zero/meta.json or fsdp/meta.json)");
        }
        JsonNode meta = JSON.readTree(z.resolve("meta.json").toFile());
        Map<String, Tensor> full = fullTensors(z, meta);
        Map<String, Tensor> params = new LinkedHashMap<>();
        try {
            for (JsonNode p : meta.get("params")) {
                long[] shape = new long[p.get("shape").size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = p.get("shape").get(i).asLong();
                }
                params.put(p.get("name").asText(), full.get("param/" + p.get("name").asText()).view(shape));
            }
            LlamaConfig config = LlamaConfig.read(checkpoint.resolve(HfCheckpoint.CONFIG));
            HfCheckpoint.save(out, config, params, DType.F32, 2L << 30);
        } finally {
            params.values().forEach(Tensor::close);
            full.values().forEach(Tensor::close);
        }
    }
}
