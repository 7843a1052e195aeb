package ai.axolotl.sharding.zero;

import ai.axolotl.model.DType;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.LlamaConfig;
import ai.axolotl.model.Safetensors;
import ai.axolotl.sharding.partition.ShardedParameter;
import ai.axolotl.train.OptimizerFactory;
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
 * Sharded ZeRO checkpoints: every rank writes its own partition of the fp32 parameters
 * ({@code zero/shards-rank<r>.safetensors}) and of the optimizer state ({@code zero/optimizer-rank<r>.pt}), no
 * gathering; rank 0 adds {@code zero/meta.json} (stage, world, each tensor's global shape and chunk) and the
 * model's {@code config.json}. {@link #consolidate} (DeepSpeed's zero_to_fp32) rebuilds the full fp32 model as HF
 * safetensors without a process group.
 */
public final class ZeroCheckpoint {
    /** Sub-directory of a checkpoint holding the partitions. */
    public static final String DIR = "zero";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ZeroCheckpoint() {}

    static void save(Path dir, ZeroStrategy s, boolean includeOptimizer) throws IOException {
        Path z = dir.resolve(DIR);
        Files.createDirectories(z);
        int rank = s.group().rank();
        Map<String, Tensor> shards = new LinkedHashMap<>();
        for (ShardedParameter p : s.sharded().values()) {
            shards.put(p.name(), p.shard().detach());
        }
        Safetensors.write(z.resolve("shards-rank" + rank + ".safetensors"), shards, Map.of("format", "pt"));
        shards.values().forEach(Tensor::close);
        if (includeOptimizer) {
            OptimizerFactory.save(s.optimizer(), z.resolve("optimizer-rank" + rank + ".pt"));
        }
        if (rank == 0) {
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("stage", s.stage());
            meta.put("world", s.group().size());
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

    static void load(Path dir, ZeroStrategy s) throws IOException {
        Path z = dir.resolve(DIR);
        if (!Files.isRegularFile(z.resolve("meta.json"))) {
            throw new TrainingException("resume_from_checkpoint: " + dir + " has no ZeRO partitions (" + DIR
                    + "/meta.json); it was not written by a ZeRO run");
        }
        JsonNode meta = JSON.readTree(z.resolve("meta.json").toFile());
        int world = meta.get("world").asInt();
        if (world != s.group().size()) {
            throw ZeroStrategy.sameWorld(dir, world, s.group().size());
        }
        int rank = s.group().rank();
        Path shardFile = z.resolve("shards-rank" + rank + ".safetensors");
        Map<String, Tensor> shards = Safetensors.read(shardFile);
        try (NoGradGuard g = new NoGradGuard()) {
            for (ShardedParameter p : s.sharded().values()) {
                Tensor t = shards.get(p.name());
                if (t == null || t.numel() != p.chunk()) {
                    throw new TrainingException(shardFile + ": no partition of '" + p.name() + "' with " + p.chunk()
                            + " elements");
                }
                p.shard().detach().copy_(t);
            }
        } finally {
            shards.values().forEach(Tensor::close);
        }
        Path opt = z.resolve("optimizer-rank" + rank + ".pt");
        if (!Files.isRegularFile(opt)) {
            throw new TrainingException("rank " + rank + ": " + opt + " not found (saved with save_only_model?)");
        }
        OptimizerFactory.load(s.optimizer(), opt);
    }

    /** True when {@code dir} holds ZeRO partitions. */
    public static boolean isZeroCheckpoint(Path dir) {
        return Files.isRegularFile(dir.resolve(DIR).resolve("meta.json"));
    }

    /** Rebuilds the full fp32 model of a sharded checkpoint into {@code out} (HF safetensors + config.json). */
    public static void consolidate(Path checkpoint, Path out) throws IOException {
        Path z = checkpoint.resolve(DIR);
        if (!isZeroCheckpoint(checkpoint)) {
            throw new TrainingException(checkpoint + ": not a sharded ZeRO checkpoint (no " + DIR + "/meta.json)");
        }
        JsonNode meta = JSON.readTree(z.resolve("meta.json").toFile());
        int world = meta.get("world").asInt();
        List<Map<String, Tensor>> ranks = new ArrayList<>();
        try {
            for (int r = 0; r < world; r++) {
                Path f = z.resolve("shards-rank" + r + ".safetensors");
                if (!Files.isRegularFile(f)) {
                    throw new TrainingException(checkpoint + ": partition of rank " + r + " is missing (" + f + ")");
                }
                ranks.add(Safetensors.read(f));
            }
            Map<String, Tensor> full = new LinkedHashMap<>();
            for (JsonNode p : meta.get("params")) {
                String name = p.get("name").asText();
                Tensor[] parts = new Tensor[world];
                for (int r = 0; r < world; r++) {
                    parts[r] = ranks.get(r).get(name);
                }
                long[] shape = new long[p.get("shape").size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = p.get("shape").get(i).asLong();
                }
                try (Tensor flat = torch.cat(new TensorVector(parts), 0)) {
                    full.put(name, flat.narrow(0, 0, p.get("numel").asLong()).view(shape).clone());
                }
            }
            LlamaConfig config = LlamaConfig.read(checkpoint.resolve(HfCheckpoint.CONFIG));
            HfCheckpoint.save(out, config, full, DType.F32, 2L << 30);
            full.values().forEach(Tensor::close);
        } finally {
            ranks.forEach(m -> m.values().forEach(Tensor::close));
        }
    }
}
