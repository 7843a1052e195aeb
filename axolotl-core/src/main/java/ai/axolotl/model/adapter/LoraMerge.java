package ai.axolotl.model.adapter;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.model.DType;
import ai.axolotl.model.HfCheckpoint;
import ai.axolotl.model.HfModelWriter;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.Safetensors;
import ai.axolotl.model.quant.Nf4Tensor;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * {@code axolotl merge-lora}: a PEFT adapter folded into its base, written as a whole HF model, one tensor at a time
 * (Axolotl's {@code memory_efficient} merge): for each adapted weight {@code W' = (W.float() + s B.float() @
 * A.float()).to(W.dtype)}; for an adapter trained over a 4-bit base, W first goes through the NF4 round trip
 * (quantize, dequantize, back to its dtype), as Axolotl's merge does "to match QLoRA training dynamics"; tensors of
 * {@code modules_to_save} replace the base's. Only one base tensor and the adapter are held at a time.
 */
public final class LoraMerge {
    private LoraMerge() {}

    /**
     * @param baseDir the base model's directory (config.json and safetensors)
     * @param adapterDir the adapter's directory (adapter_config.json and adapter_model.safetensors)
     * @param nf4RoundTrip the adapter was trained over a 4-bit base (QLoRA)
     * @param out the merged model's directory
     * @param log progress lines
     * @return how many weights the adapter changed
     * @throws IllegalArgumentException one line naming the file and tensor
     */
    public static int merge(Path baseDir, Path adapterDir, boolean nf4RoundTrip, Path out, Consumer<String> log)
            throws IOException {
        ModelConfig config = ModelConfig.read(baseDir.resolve(HfCheckpoint.CONFIG));
        AdapterSettings saved = PeftFiles.settingsFrom(adapterDir, AdapterSettings.NONE, s -> { });
        double scaling = saved.scaling();
        Path adapterFile = adapterDir.resolve(PeftFiles.WEIGHTS);
        Map<String, Safetensors.Entry> adapter = Safetensors.entries(adapterFile);
        Map<String, Path> files;
        try {
            files = HfCheckpoint.weightFiles(baseDir);
        } catch (IOException e) {
            throw new IllegalArgumentException("base_model: " + e.getMessage() + " (merge-lora needs the base's "
                    + "weights; a reinit_weights run's frozen base was random and is not saved)");
        }
        Map<String, Safetensors.Entry> base = new LinkedHashMap<>();
        Map<String, Path> baseFile = new LinkedHashMap<>();
        for (Path f : new java.util.LinkedHashSet<>(files.values())) {
            for (Map.Entry<String, Safetensors.Entry> e : Safetensors.entries(f).entrySet()) {
                String name = HfCheckpoint.parameterName(config, e.getKey());
                if (name != null && config.parameterNames().contains(name)) {
                    base.put(name, e.getValue());
                    baseFile.put(name, f);
                }
            }
        }
        Map<String, String> loraA = new LinkedHashMap<>();
        Map<String, String> loraB = new LinkedHashMap<>();
        Map<String, String> replaced = new LinkedHashMap<>();
        for (String key : adapter.keySet()) {
            String name = key.startsWith(AdaptedModel.PEFT_PREFIX) ? key.substring(AdaptedModel.PEFT_PREFIX.length())
                    : key;
            if (name.endsWith(".lora_A.weight")) {
                loraA.put(name.substring(0, name.length() - ".lora_A.weight".length()) + ".weight", key);
            } else if (name.endsWith(".lora_B.weight")) {
                loraB.put(name.substring(0, name.length() - ".lora_B.weight".length()) + ".weight", key);
            } else {
                replaced.put(name, key);
            }
        }
        for (String w : loraA.keySet()) {
            if (!base.containsKey(w) || !loraB.containsKey(w)) {
                throw new IllegalArgumentException(adapterFile + ": " + loraA.get(w) + (base.containsKey(w)
                        ? " has no lora_B" : " adapts '" + w + "', which the base model in " + baseDir + " lacks"));
            }
        }
        for (String w : replaced.keySet()) {
            if (!base.containsKey(w)) {
                throw new IllegalArgumentException(adapterFile + ": " + replaced.get(w) + " replaces '" + w
                        + "', which the base model in " + baseDir + " lacks");
            }
        }
        DType dtype = base.values().iterator().next().dtype();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, Safetensors.Entry> e : base.entrySet()) {
            shapes.put(e.getKey(), e.getValue().shape());
        }
        int changed = 0;
        try (HfModelWriter writer = new HfModelWriter(out, config, shapes, dtype, 5L << 30);
             NoGradGuard g = new NoGradGuard()) {
            for (Map.Entry<String, Safetensors.Entry> e : base.entrySet()) {
                String name = e.getKey();
                try (PointerScope scope = new PointerScope()) {
                    Safetensors.Entry entry = e.getValue();
                    Tensor w = Safetensors.readSlice(baseFile.get(name), entry, 0, 0, entry.shape()[0]);
                    if (replaced.containsKey(name)) {
                        Safetensors.Entry r = adapter.get(replaced.get(name));
                        requireShape(adapterFile, replaced.get(name), r.shape(), entry.shape());
                        w = Safetensors.readSlice(adapterFile, r, 0, 0, r.shape()[0]);
                        changed++;
                    } else if (loraA.containsKey(name)) {
                        Safetensors.Entry ea = adapter.get(loraA.get(name));
                        Safetensors.Entry eb = adapter.get(loraB.get(name));
                        long[] shape = entry.shape();
                        requireShape(adapterFile, loraA.get(name), ea.shape(), new long[] {ea.shape()[0], shape[1]});
                        requireShape(adapterFile, loraB.get(name), eb.shape(), new long[] {shape[0], ea.shape()[0]});
                        Tensor a = Safetensors.readSlice(adapterFile, ea, 0, 0, ea.shape()[0]).to(ScalarType.Float);
                        Tensor b = Safetensors.readSlice(adapterFile, eb, 0, 0, eb.shape()[0]).to(ScalarType.Float);
                        if (nf4RoundTrip) {
                            try (Nf4Tensor q = Nf4Tensor.quantize(w, true)) {
                                w = q.dequantize(w.scalar_type());
                            }
                        }
                        Tensor delta = b.matmul(a).mul(new Scalar(scaling));
                        w = w.to(ScalarType.Float).add(delta).to(w.scalar_type());
                        changed++;
                    }
                    writer.accept(name, w);
                }
            }
        }
        log.accept("merged " + changed + " weights (scale " + scaling + (nf4RoundTrip ? ", NF4 round trip first"
                : "") + ") into " + out);
        return changed;
    }

    private static void requireShape(Path file, String key, long[] actual, long[] expected) {
        if (!Arrays.equals(actual, expected)) {
            throw new IllegalArgumentException(file + ": tensor '" + key + "' has shape " + Arrays.toString(actual)
                    + ", expected " + Arrays.toString(expected));
        }
    }
}
