package ai.axolotl.model.adapter;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.model.DType;
import ai.axolotl.model.ParameterSpec;
import ai.axolotl.model.Safetensors;
import ai.axolotl.model.SafetensorsWriter;
import ai.axolotl.model.WeightSink;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * PEFT's adapter files: {@code adapter_config.json} (PEFT 0.19.1's whole key set, sorted, as
 * {@code save_pretrained} writes it) and {@code adapter_model.safetensors} (keys {@code base_model.model.<module>
 * .lora_A.weight}, the adapter name stripped; trainable base parameters as {@code base_model.model.<name>};
 * float32; metadata {@code {"format": "pt"}}), written so that {@code PeftModel.from_pretrained} loads them
 * unchanged, and read back for {@code lora_model_dir}.
 */
public final class PeftFiles {
    /** The adapter's config file. */
    public static final String CONFIG = "adapter_config.json";
    /** The adapter's weights file. */
    public static final String WEIGHTS = "adapter_model.safetensors";
    /** The PEFT version whose format is written (the one Axolotl pins). */
    public static final String PEFT_VERSION = "0.19.1";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    private PeftFiles() {}

    /** The file key of a trainable tensor's name. */
    public static String fileKey(String name) {
        return AdaptedModel.PEFT_PREFIX + name;
    }

    /**
     * {@code adapter_config.json}'s content for an adapter: every LoraConfig field, sorted. A regex
     * {@code lora_target_modules} is written as the list of module paths it matched (the same modules under PEFT's
     * list rule).
     *
     * @param baseModel what {@code base_model} named (a Hub id or a path): {@code base_model_name_or_path}
     */
    public static Map<String, Object> config(AdaptedModel model, String baseModel) {
        AdapterSettings s = model.settings();
        Map<String, Object> c = new TreeMap<>();
        c.put("alora_invocation_tokens", null);
        c.put("alpha_pattern", Map.of());
        c.put("arrow_config", null);
        c.put("auto_mapping", null);
        c.put("base_model_name_or_path", baseModel);
        c.put("bias", "none");
        c.put("corda_config", null);
        c.put("ensure_weight_tying", false);
        c.put("eva_config", null);
        c.put("exclude_modules", s.excludeModules().isEmpty() ? null : new TreeSet<>(s.excludeModules()));
        c.put("fan_in_fan_out", false);
        c.put("inference_mode", true);
        c.put("init_lora_weights", s.init().equals("gaussian") ? "gaussian" : Boolean.valueOf(s.init()));
        c.put("layer_replication", null);
        c.put("layers_pattern", s.layersToTransform() == null ? null : "layers");
        c.put("layers_to_transform", s.layersToTransform());
        c.put("loftq_config", Map.of());
        c.put("lora_alpha", s.alpha() == Math.rint(s.alpha()) ? (Object) (long) s.alpha() : s.alpha());
        c.put("lora_bias", false);
        c.put("lora_dropout", s.dropout());
        c.put("lora_ga_config", null);
        c.put("megatron_config", null);
        c.put("megatron_core", "megatron.core");
        c.put("modules_to_save", s.modulesToSave().isEmpty() ? null : s.modulesToSave());
        c.put("peft_type", "LORA");
        c.put("peft_version", PEFT_VERSION);
        c.put("qalora_group_size", 16);
        c.put("r", s.r());
        c.put("rank_pattern", Map.of());
        c.put("revision", null);
        List<String> targets = new ArrayList<>();
        if (s.targetRegex() != null) {
            for (String t : model.targets()) {
                targets.add(AdaptedModel.module(t));
            }
        } else {
            targets.addAll(new TreeSet<>(s.targetModules()));
        }
        c.put("target_modules", targets);
        c.put("target_parameters", null);
        c.put("task_type", "CAUSAL_LM");
        c.put("trainable_token_indices", null);
        c.put("use_bdlora", null);
        c.put("use_dora", false);
        c.put("use_qalora", false);
        c.put("use_rslora", s.useRslora());
        return c;
    }

    /**
     * A sink for the trainable tensors, whole, in {@link AdaptedModel#parameters()} order: written under temporary
     * names and renamed into place (weights first, config last) only when every tensor arrived.
     */
    public static Writer writer(Path dir, AdaptedModel model, String baseModel) throws IOException {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String name : model.parameters().keySet()) {
            shapes.put(name, model.spec(name).shape());
        }
        return new Writer(dir, shapes, config(model, baseModel));
    }

    /** Writes {@code adapter_model.safetensors} and {@code adapter_config.json}; see {@link #writer}. */
    public static final class Writer implements WeightSink, AutoCloseable {
        private final Path dir;
        private final Map<String, Object> config;
        private final Path tmpWeights;
        private final SafetensorsWriter weights;
        private boolean failed;

        private Writer(Path dir, Map<String, long[]> shapes, Map<String, Object> config) throws IOException {
            this.dir = dir;
            this.config = config;
            Files.createDirectories(dir);
            Map<String, long[]> keyed = new LinkedHashMap<>();
            shapes.forEach((name, shape) -> keyed.put(fileKey(name), shape));
            this.tmpWeights = dir.resolve(".tmp-" + Long.toHexString(System.nanoTime()) + "-" + WEIGHTS);
            this.weights = new SafetensorsWriter(tmpWeights, keyed, DType.F32, Map.of("format", "pt"));
        }

        @Override
        public void accept(String name, Tensor weight) throws IOException {
            try {
                if (weight.dim() == 2 && weight.numel() == 0) {
                    throw new IllegalStateException(name + " is empty: an adapter slice was lost in the gather");
                }
                weights.write(fileKey(name), weight);
            } catch (IOException | RuntimeException e) {
                failed = true;
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            try {
                weights.close();
            } catch (IllegalStateException incomplete) {
                Files.deleteIfExists(tmpWeights);
                if (failed) {
                    return;
                }
                throw incomplete;
            }
            if (failed) {
                Files.deleteIfExists(tmpWeights);
                return;
            }
            Files.move(tmpWeights, dir.resolve(WEIGHTS), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            Path tmp = dir.resolve(".tmp-" + CONFIG);
            Files.writeString(tmp, JSON.writeValueAsString(config) + "\n");
            Files.move(tmp, dir.resolve(CONFIG), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /**
     * The settings an existing adapter directory ({@code lora_model_dir}) governs, as PEFT's
     * {@code from_pretrained} takes them from its {@code adapter_config.json}: rank, alpha, dropout, targets,
     * rsLoRA, layers and modules to save replace the YAML's (each difference reported through {@code warn}). Only
     * {@code peft_type} is required; keys this library cannot honour are refused naming them.
     *
     * @throws IllegalArgumentException one line naming the file and the key
     */
    public static AdapterSettings settingsFrom(Path dir, AdapterSettings yaml, Consumer<String> warn) {
        Path file = dir.resolve(CONFIG);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("lora_model_dir: " + file + " not found (Target directory for LoRA "
                    + "adapter weights does not exist or holds no PEFT adapter)");
        }
        JsonNode c;
        try {
            c = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + firstLine(e));
        }
        if (c == null || !c.isObject() || !c.has("peft_type")) {
            throw new IllegalArgumentException(file + ": peft_type is missing (not a PEFT adapter config)");
        }
        if (!"LORA".equals(c.get("peft_type").asText())) {
            throw new IllegalArgumentException(file + ": peft_type " + c.get("peft_type") + " is not built; "
                    + "expected LORA");
        }
        refuseIfSet(c, file, "use_dora", "DoRA");
        refuseIfSet(c, file, "lora_bias", "LoRA biases");
        refuseIfSet(c, file, "rank_pattern", "per-module ranks");
        refuseIfSet(c, file, "alpha_pattern", "per-module alphas");
        refuseIfSet(c, file, "target_parameters", "LoRA on expert parameters");
        refuseIfSet(c, file, "layer_replication", "layer replication");
        if (c.has("bias") && !c.get("bias").isNull() && !"none".equals(c.get("bias").asText())) {
            throw new IllegalArgumentException(file + ": bias " + c.get("bias") + " is not built; expected none");
        }
        int r = c.has("r") ? c.get("r").asInt() : 8;
        double alpha = c.has("lora_alpha") ? c.get("lora_alpha").asDouble() : 8;
        double dropout = c.has("lora_dropout") ? c.get("lora_dropout").asDouble() : 0.0;
        boolean rslora = c.has("use_rslora") && c.get("use_rslora").asBoolean();
        JsonNode t = c.get("target_modules");
        List<String> list = new ArrayList<>();
        String regex = null;
        if (t == null || t.isNull()) {
            throw new IllegalArgumentException(file + ": target_modules is null (PEFT's per-architecture default "
                    + "is not used here); name the modules");
        } else if (t.isTextual()) {
            regex = t.asText();
        } else {
            t.forEach(n -> list.add(n.asText()));
        }
        List<Integer> layers = null;
        JsonNode l = c.get("layers_to_transform");
        if (l != null && !l.isNull()) {
            layers = new ArrayList<>();
            if (l.isInt()) {
                layers.add(l.asInt());
            } else {
                for (JsonNode n : l) {
                    layers.add(n.asInt());
                }
            }
        }
        List<String> exclude = strings(c.get("exclude_modules"));
        List<String> toSave = strings(c.get("modules_to_save"));
        AdapterSettings saved = new AdapterSettings("lora", r, alpha, dropout, list, regex, exclude, toSave, rslora,
                layers, yaml.init(), yaml.loraModelDir(), yaml.unfrozenParameters());
        List<String> differ = new ArrayList<>();
        if (saved.r() != yaml.r()) {
            differ.add("lora_r " + yaml.r() + " -> " + saved.r());
        }
        if (saved.alpha() != yaml.alpha()) {
            differ.add("lora_alpha " + yaml.alpha() + " -> " + saved.alpha());
        }
        if (saved.dropout() != yaml.dropout()) {
            differ.add("lora_dropout " + yaml.dropout() + " -> " + saved.dropout());
        }
        if (saved.useRslora() != yaml.useRslora()) {
            differ.add("peft_use_rslora " + yaml.useRslora() + " -> " + saved.useRslora());
        }
        if (!new TreeSet<>(saved.targetModules()).equals(new TreeSet<>(yaml.targetModules()))
                || !java.util.Objects.equals(saved.targetRegex(), yaml.targetRegex())) {
            differ.add("lora_target_modules -> " + (regex != null ? regex : list));
        }
        if (!differ.isEmpty()) {
            warn.accept("lora_model_dir: " + file + " governs the adapter (as PEFT's from_pretrained): "
                    + String.join(", ", differ));
        }
        return saved;
    }

    private static List<String> strings(JsonNode n) {
        List<String> out = new ArrayList<>();
        if (n != null && !n.isNull()) {
            if (n.isTextual()) {
                out.add(n.asText());
            } else {
                n.forEach(e -> out.add(e.asText()));
            }
        }
        return out;
    }

    private static void refuseIfSet(JsonNode c, Path file, String key, String feature) {
        JsonNode v = c.get(key);
        boolean set = v != null && !v.isNull() && !(v.isBoolean() && !v.asBoolean())
                && !(v.isContainerNode() && v.isEmpty());
        if (set) {
            throw new IllegalArgumentException(file + ": " + key + " " + v + " is not built (" + feature + ")");
        }
    }

    /**
     * Copies an adapter's saved tensors into {@code model}'s (this rank's slice of each, under tensor
     * parallelism), accepting float32, bfloat16 or float16. A tensor of the wrong shape is refused naming it; a
     * missing one is refused (training would start that module from scratch silently); a key that belongs to no
     * module of this model is refused.
     *
     * @throws IllegalArgumentException one line naming the file and the tensor
     */
    public static void loadInto(Path dir, AdaptedModel model) throws IOException {
        Path file = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) {
            String hint = Files.isRegularFile(dir.resolve("adapter_model.bin"))
                    ? " (adapter_model.bin is a pickle, which is never read here: save with safe_serialization)" : "";
            throw new IllegalArgumentException("lora_model_dir: " + file + " not found" + hint);
        }
        Map<String, Safetensors.Entry> entries = Safetensors.entries(file);
        Map<String, String> byName = new LinkedHashMap<>();
        for (String key : entries.keySet()) {
            String name = key.startsWith(AdaptedModel.PEFT_PREFIX) ? key.substring(AdaptedModel.PEFT_PREFIX.length())
                    : key;
            name = name.replace(".lora_A.default.weight", ".lora_A.weight").replace(".lora_B.default.weight",
                    ".lora_B.weight");
            if (!model.parameters().containsKey(name)) {
                throw new IllegalArgumentException(file + ": tensor '" + key + "' belongs to no adapted module of "
                        + "this model (another base model, or other lora_target_modules?)");
            }
            byName.put(name, key);
        }
        int tp = model.parallelism().size();
        int rank = model.parallelism().rank();
        try (org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
                String key = byName.get(e.getKey());
                if (key == null) {
                    throw new IllegalArgumentException(file + ": tensor '" + fileKey(e.getKey()) + "' is missing");
                }
                ParameterSpec spec = model.spec(e.getKey());
                Safetensors.Entry entry = entries.get(key);
                if (!Arrays.equals(entry.shape(), spec.shape())) {
                    throw new IllegalArgumentException(file + ": tensor '" + key + "' has shape "
                            + Arrays.toString(entry.shape()) + ", expected " + Arrays.toString(spec.shape())
                            + " (lora_r or the base model differ)");
                }
                int dim = spec.tensorParallel().shardDim();
                try (Tensor t = dim >= 0 && tp > 1
                        ? Safetensors.readSlice(file, entry, dim, spec.shape()[dim] / tp * rank, spec.shape()[dim] / tp)
                        : Safetensors.readSlice(file, entry, 0, 0, spec.shape()[0])) {
                    e.getValue().copy_(t);
                }
            }
        }
    }

    private static String firstLine(IOException e) {
        return String.valueOf(e.getMessage()).lines().findFirst().orElse("");
    }

    /** Unused-key check helper for tests: the keys of a written config, in file order. */
    static List<String> keys(Path file) throws IOException {
        List<String> out = new ArrayList<>();
        Iterator<String> it = new ObjectMapper().readTree(file.toFile()).fieldNames();
        it.forEachRemaining(out::add);
        return out;
    }
}
