package ai.axolotl.config;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Binds the adapter keys ({@code adapter}, {@code lora_*}, {@code peft_*}, {@code load_in_*},
 * {@code unfrozen_parameters}) into {@link AdapterSettings}, with Axolotl's validation messages kept verbatim where
 * Axolotl has one.
 */
final class AdapterBinder {
    /** Axolotl's message for 4-bit or 8-bit loading without an adapter (its missing space kept). */
    static final String LOAD_IN_WITHOUT_ADAPTER = "load_in_8bit and load_in_4bit are not supported without setting "
            + "an adapter for training.If you want to full finetune, please turn off load_in_8bit and load_in_4bit.";
    private static final List<String> INITS = List.of("true", "false", "gaussian");

    private final RawValues r;
    private final List<ConfigError> errors;
    private final List<String> warnings;

    AdapterBinder(RawValues r, List<ConfigError> errors, List<String> warnings) {
        this.r = r;
        this.errors = errors;
        this.warnings = warnings;
    }

    AdapterSettings bind() {
        String adapter = r.string("adapter", null);
        boolean in4 = r.bool("load_in_4bit", false);
        boolean in8 = r.bool("load_in_8bit", false);
        List<String> unfrozen = r.stringList("unfrozen_parameters");
        for (String u : unfrozen == null ? List.<String>of() : unfrozen) {
            checkUnfrozen(u);
        }
        if ((in4 || in8) && adapter == null) {
            errors.add(new ConfigError(in4 ? "load_in_4bit" : "load_in_8bit", LOAD_IN_WITHOUT_ADAPTER));
        }
        if (adapter != null && !adapter.equals("lora") && !adapter.equals("qlora")) {
            errors.add(new ConfigError("adapter", "Adapter '" + adapter + "' is not built in and was not "
                    + "registered by a plugin. Add the plugin that provides this adapter to `plugins:`."));
            adapter = null;
        } else if ("qlora".equals(adapter) && in8) {
            errors.add(new ConfigError("adapter", "Can't load qlora in 8bit"));
            adapter = null;
        } else if ("qlora".equals(adapter) && !in4) {
            errors.add(new ConfigError("adapter", "Require cfg.load_in_4bit to be True for qlora"));
            adapter = null;
        } else if (adapter != null && in8) {
            errors.add(new ConfigError("load_in_8bit", "unsupported feature: an 8-bit (LLM.int8) base is not built "
                    + "yet; load_in_4bit with adapter: qlora (NF4) is"));
            adapter = null;
        } else if (adapter != null && in4) {
            adapter = "qlora"; // LoRA over a base loaded in 4 bits: Axolotl's QLoRA either way
        }
        if (adapter == null) {
            for (String k : List.of("lora_r", "lora_alpha", "lora_target_modules", "lora_target_linear",
                    "lora_model_dir", "lora_modules_to_save", "peft_use_rslora", "peft_layers_to_transform",
                    "peft_init_lora_weights", "lora_exclude_modules")) {
                if (r.isSet(k) && r.get(k) != null) {
                    warnings.add(k + " has no effect without adapter: lora");
                }
            }
            return unfrozen == null || unfrozen.isEmpty() ? AdapterSettings.NONE
                    : new AdapterSettings(null, 0, 0, 0, List.of(), null, List.of(), List.of(), false, null, "true",
                    null, unfrozen);
        }
        Integer rank = r.integer("lora_r", null);
        Double alpha = r.number("lora_alpha", null);
        if (rank == null || rank <= 0) {
            errors.add(new ConfigError("lora_r", "is required with adapter: lora (a positive rank, e.g. 16)"));
            rank = 1;
        }
        if (alpha == null || alpha <= 0) {
            errors.add(new ConfigError("lora_alpha", "is required with adapter: lora (a positive scale, e.g. 32)"));
            alpha = 1.0;
        }
        double dropout = r.number("lora_dropout", 0.0);
        if (dropout < 0 || dropout >= 1) {
            errors.add(new ConfigError("lora_dropout", "expected a probability in [0, 1), got " + dropout));
        }
        boolean linear = r.bool("lora_target_linear", false);
        Object given = r.get("lora_target_modules");
        String regex = null;
        List<String> targets = new ArrayList<>();
        if (given instanceof String s && !linear) {
            regex = s;
            compile("lora_target_modules", s);
        } else {
            List<String> list = r.stringList("lora_target_modules");
            if (list != null) {
                targets.addAll(list);
            }
            List<String> bad = new ArrayList<>();
            for (String t : targets) {
                try {
                    Pattern.compile(t);
                } catch (PatternSyntaxException e) {
                    bad.add(t);
                }
            }
            if (!bad.isEmpty()) {
                errors.add(new ConfigError("lora_target_modules", "lora_target_modules contains invalid regex "
                        + "pattern(s): " + String.join(", ", bad) + ". Please provide valid Python regex patterns or "
                        + "plain module name strings."));
            }
        }
        if (linear) {
            for (String leaf : LINEAR_LEAVES) {
                if (!targets.contains(leaf)) {
                    targets.add(leaf);
                }
            }
        }
        if (regex == null && targets.isEmpty()) {
            errors.add(new ConfigError("lora_target_modules", "adapter: lora needs lora_target_modules or "
                    + "lora_target_linear: true (PEFT raises 'Target modules [] not found in the base model')"));
        }
        List<String> exclude = r.stringList("lora_exclude_modules");
        List<String> toSave = r.stringList("lora_modules_to_save");
        Object layers = r.get("peft_layers_to_transform");
        List<Integer> layerList = null;
        if (layers instanceof Number n) {
            layerList = List.of(n.intValue());
        } else if (layers instanceof List<?> l) {
            layerList = new ArrayList<>();
            for (Object o : l) {
                if (o instanceof Integer i && i >= 0) {
                    layerList.add(i);
                } else {
                    errors.add(new ConfigError("peft_layers_to_transform", "expected layer indices, got " + o));
                }
            }
        } else if (layers != null) {
            errors.add(new ConfigError("peft_layers_to_transform", "expected a layer index or a list of them"));
        }
        String pattern = r.string("peft_layers_pattern", null);
        if (pattern != null && layerList == null) {
            errors.add(new ConfigError("peft_layers_pattern", "peft_layers_pattern requires peft_layers_to_transform "
                    + "to be set"));
        } else if (pattern != null && !pattern.equals("layers")) {
            errors.add(new ConfigError("peft_layers_pattern", "unsupported value '" + pattern + "': the decoder "
                    + "layers of every family built here are model.layers.<i> (use layers, or leave it out)"));
        }
        if (layerList != null && regex != null) {
            errors.add(new ConfigError("peft_layers_to_transform", "peft_layers_to_transform needs "
                    + "lora_target_modules as a list (PEFT refuses it with a regex string)"));
        }
        if (layerList != null && unfrozen != null && !unfrozen.isEmpty()) {
            warnings.add("`unfrozen_parameters` used with `peft_layers_to_transform` can have unexpected behavior.");
        }
        Object init = r.get("peft_init_lora_weights");
        String initName = init == null ? "true" : String.valueOf(init).toLowerCase(java.util.Locale.ROOT);
        if (!INITS.contains(initName)) {
            errors.add(new ConfigError("peft_init_lora_weights", "unsupported value '" + init + "': axolotl-java "
                    + "initialises LoRA as true (kaiming-uniform A, zero B), gaussian or false; PiSSA, OLoRA, "
                    + "LoftQ, EVA and CorDA initialisations are not built"));
            initName = "true";
        }
        if (r.bool("lora_fan_in_fan_out", false)) {
            warnings.add("lora_fan_in_fan_out: true has no effect: the targets are torch.nn.Linear (weights stored "
                    + "[out, in]), for which PEFT sets fan_in_fan_out back to False");
        }
        Object fsdp = r.get("fsdp_config");
        boolean recompute = Boolean.TRUE.equals(r.get("gradient_checkpointing"))
                || fsdp instanceof java.util.Map<?, ?> f && Boolean.TRUE.equals(f.get("activation_checkpointing"));
        if (adapter.equals("qlora") && !recompute) {
            warnings.add("adapter: qlora without gradient_checkpointing: decoder layers are recomputed in backward "
                    + "anyway, so that only one layer's dequantized weights are alive at a time (bitsandbytes keeps "
                    + "only the packed bytes between forward and backward)");
        }
        return new AdapterSettings(adapter, rank, alpha, dropout, targets, regex, exclude, toSave,
                r.bool("peft_use_rslora", false), layerList, initName, r.string("lora_model_dir", null),
                unfrozen);
    }

    /** Every linear projection's leaf name in the decoders built here (what {@code lora_target_linear} adds). */
    static final List<String> LINEAR_LEAVES = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
            "up_proj", "down_proj");

    private void compile(String key, String regex) {
        try {
            Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            errors.add(new ConfigError(key, "not a valid regular expression: " + e.getDescription()));
        }
    }

    /** Axolotl's pattern grammar: a trailing {@code [start:end]} index range (not built here), dots literal. */
    private void checkUnfrozen(String pattern) {
        if (pattern.matches("^(.+)\\[([0-9]*)(?::([0-9]*))?\\]$")) {
            errors.add(new ConfigError("unfrozen_parameters", "unsupported feature: index ranges in unfrozen_"
                    + "parameters ('" + pattern + "'): only whole parameters can be unfrozen so far"));
            return;
        }
        compile("unfrozen_parameters", AdapterSettings.unfrozenRegex(pattern));
    }
}
