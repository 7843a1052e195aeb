package ai.axolotl.model.adapter;

import ai.axolotl.config.AdapterSettings;
import ai.axolotl.model.ModelConfig;
import ai.axolotl.model.ParameterSpec;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which modules an adapter wraps and which base parameters stay trainable, by PEFT's and Axolotl's rules over the
 * Hugging Face module paths ({@code model.layers.3.self_attn.q_proj}).
 *
 * <ul>
 *   <li>{@code lora_target_modules} as a string: the whole module path must match it (PEFT's {@code re.fullmatch});
 *       as a list: a module matches when its path equals an entry or ends with {@code "." + entry}.</li>
 *   <li>{@code lora_target_linear}: every linear projection's leaf name, never {@code lm_head}.</li>
 *   <li>{@code lora_exclude_modules} is checked first, {@code peft_layers_to_transform} keeps only the listed
 *       {@code .layers.<i>.}, and modules in {@code lora_modules_to_save} are never wrapped.</li>
 *   <li>A match that is not a linear projection (a norm, an attention block) is refused, as PEFT refuses it.</li>
 * </ul>
 */
public final class LoraTargets {
    private static final Pattern LAYER = Pattern.compile(".*\\.layers\\.(\\d+)\\..*|.*\\.layers\\.(\\d+)$");

    private LoraTargets() {}

    /**
     * The base weights the adapter wraps ({@code model.layers.0.self_attn.q_proj.weight}), in the model's
     * parameter order.
     *
     * @throws IllegalArgumentException naming the key when nothing matches, or when a match cannot be adapted
     */
    public static List<String> weights(ModelConfig config, AdapterSettings s) {
        List<String> out = new ArrayList<>();
        Set<String> matched = new LinkedHashSet<>();
        for (String module : modules(config)) {
            if (!matchesTarget(module, s) || excluded(module, s) || toSave(module, s)) {
                continue;
            }
            if (s.layersToTransform() != null) {
                Integer layer = layerIndex(module);
                if (layer == null || !s.layersToTransform().contains(layer)) {
                    continue;
                }
            }
            matched.add(module);
        }
        for (String module : matched) {
            String weight = module + ".weight";
            if (module.equals("lm_head") || module.endsWith("embed_tokens")) {
                throw new IllegalArgumentException("lora_target_modules: LoRA on " + module + " is not built yet; "
                        + "list it in lora_modules_to_save to train it in full beside the adapter");
            }
            if (!isLinear(config, weight)) {
                throw new IllegalArgumentException("lora_target_modules: '" + module + "' matches, but it is not a "
                        + "linear projection (PEFT: Target module ... is not supported); target the projections "
                        + "(q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
            }
            out.add(weight);
        }
        if (out.isEmpty()) {
            Object targets = s.targetRegex() != null ? s.targetRegex() : s.targetModules();
            throw new IllegalArgumentException("lora_target_modules: Target modules " + targets + " not found in "
                    + "the base model. Please check the target modules and try again.");
        }
        return out;
    }

    /**
     * The base parameters left trainable: those of {@code lora_modules_to_save}'s modules (PEFT's
     * {@code (^|.*\.)m($|\..*)}) and those {@code unfrozen_parameters} matches (Axolotl: from the start of the name).
     */
    public static List<String> trainableBase(ModelConfig config, AdapterSettings s) {
        List<Pattern> unfrozen = new ArrayList<>();
        for (String u : s.unfrozenParameters()) {
            unfrozen.add(Pattern.compile(AdapterSettings.unfrozenRegex(u)));
        }
        for (String m : s.modulesToSave()) {
            if (m.equals("lm_head") && config.tieWordEmbeddings()) {
                throw new IllegalArgumentException("lora_modules_to_save: lm_head is tied to embed_tokens in this "
                        + "model (tie_word_embeddings: true); list embed_tokens to train the shared matrix");
            }
        }
        List<String> out = new ArrayList<>();
        for (ParameterSpec spec : config.parameterSpecs()) {
            String name = spec.name();
            String module = name.substring(0, name.lastIndexOf('.'));
            boolean keep = toSave(module, s);
            for (Pattern p : unfrozen) {
                keep |= p.matcher(name).lookingAt();
            }
            if (keep) {
                out.add(name);
            }
        }
        if (!s.unfrozenParameters().isEmpty() && out.isEmpty() && !s.lora()) {
            throw new IllegalArgumentException("unfrozen_parameters: " + s.unfrozenParameters() + " match no "
                    + "parameter of the model: nothing would train (Axolotl: All parameters are frozen)");
        }
        return out;
    }

    /** Every module path of the model: each parameter's module and the modules that contain it. */
    static List<String> modules(ModelConfig config) {
        Set<String> out = new LinkedHashSet<>();
        for (ParameterSpec spec : config.parameterSpecs()) {
            String module = spec.name().substring(0, spec.name().lastIndexOf('.'));
            List<String> chain = new ArrayList<>();
            for (String m = module; !m.isEmpty(); m = m.contains(".") ? m.substring(0, m.lastIndexOf('.')) : "") {
                chain.add(0, m);
            }
            out.addAll(chain);
        }
        if (!config.tieWordEmbeddings()) {
            out.add("lm_head");
        }
        return new ArrayList<>(out);
    }

    private static boolean isLinear(ModelConfig config, String weight) {
        return weight.endsWith("_proj.weight") && config.parameterNames().contains(weight)
                && config.spec(weight).shape().length == 2;
    }

    private static boolean matchesTarget(String module, AdapterSettings s) {
        if (s.targetRegex() != null) {
            return Pattern.compile(s.targetRegex()).matcher(module).matches();
        }
        return inList(module, s.targetModules());
    }

    private static boolean excluded(String module, AdapterSettings s) {
        return inList(module, s.excludeModules());
    }

    /** PEFT's {@code modules_to_save} rule: the entry is one of the path's components runs. */
    private static boolean toSave(String module, AdapterSettings s) {
        for (String m : s.modulesToSave()) {
            if (Pattern.compile("(^|.*\\.)" + Pattern.quote(m) + "($|\\..*)").matcher(module).matches()) {
                return true;
            }
        }
        return false;
    }

    private static boolean inList(String module, List<String> entries) {
        for (String e : entries) {
            if (module.equals(e) || module.endsWith("." + e)) {
                return true;
            }
        }
        return false;
    }

    /** The decoder layer index in a module path ({@code .layers.<i>.}), or null. */
    static Integer layerIndex(String module) {
        Matcher m = LAYER.matcher(module);
        if (!m.matches()) {
            return null;
        }
        return Integer.parseInt(m.group(1) != null ? m.group(1) : m.group(2));
    }
}
