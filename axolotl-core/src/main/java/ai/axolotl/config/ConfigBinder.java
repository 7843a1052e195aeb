package ai.axolotl.config;

import ai.axolotl.model.ModelFamilies;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a raw key/value map (from YAML, CLI overrides or the fluent builder) into an {@link AxolotlConfig}:
 * classifies keys, reads typed values with Axolotl's defaults, and applies Axolotl's key rewrites (batch_size to
 * accumulation, the {@code fsdp_} prefix, {@code sequence_parallel_degree}). Every problem is collected; the
 * caller gets them all at once from {@link ConfigValidator}.
 */
public final class ConfigBinder {
    /** Optimizer names that mean libtorch AdamW. */
    public static final Set<String> ADAMW_NAMES = Set.of("adamw_torch", "adamw_torch_fused", "adamw_hf", "adamw",
            "adamw_torch_xla", "adamw_torch_npu_fused");
    /** Learning-rate schedules this library implements. */
    public static final List<String> SCHEDULERS = List.of("cosine", "linear", "constant", "constant_with_warmup");

    private final List<ConfigError> errors = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();

    /** Result of binding: the config (null when binding failed) plus what was found along the way. */
    public record Bound(AxolotlConfig config, List<ConfigError> errors, List<String> warnings) {}

    private ConfigBinder() {}

    /** Binds a raw map. The map is not modified. */
    public static Bound bind(Map<String, Object> raw) {
        ConfigBinder b = new ConfigBinder();
        AxolotlConfig c = b.doBind(new LinkedHashMap<>(raw));
        return new Bound(c, List.copyOf(b.errors), List.copyOf(b.warnings));
    }

    private static boolean truthy(Object v) {
        if (v == null || Boolean.FALSE.equals(v)) {
            return false;
        }
        if (v instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (v instanceof String s) {
            return !s.isBlank() && !s.equalsIgnoreCase("none");
        }
        if (v instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        if (v instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return true;
    }

    private void classifyKeys(Map<String, Object> raw) {
        List<String> noEffect = new ArrayList<>();
        for (Map.Entry<String, Object> e : raw.entrySet()) {
            String key = e.getKey();
            ConfigKeys.Key k = ConfigKeys.lookup(key);
            if (k == null) {
                String hint = Suggestions.closest(key, ConfigKeys.all()).map(s -> " (did you mean '" + s + "'?)")
                        .orElse("");
                errors.add(new ConfigError(key, "unknown key" + hint));
            } else if (k.kind() == ConfigKeys.Kind.UNSUPPORTED && truthy(e.getValue())) {
                if (key.equals("expert_parallel_size") && Integer.valueOf(1).equals(e.getValue())) {
                    continue;
                }
                errors.add(new ConfigError(key, "unsupported feature: " + k.note()
                        + " (not available in axolotl-java; remove the key or set it to null)"));
            } else if (k.kind() == ConfigKeys.Kind.NO_EFFECT && truthy(e.getValue())) {
                noEffect.add(key + " (" + k.note() + ")");
            }
        }
        if (!noEffect.isEmpty()) {
            warnings.add("keys accepted with no effect: " + String.join(", ", noEffect));
        }
    }

    /** Axolotl's Cut Cross Entropy plugin. */
    static final String CUT_CROSS_ENTROPY_PLUGIN = "axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin";
    /** Axolotl's Liger plugin (its liger_* keys decide what it does). */
    static final String LIGER_PLUGIN = "axolotl.integrations.liger.LigerPlugin";

    /**
     * Whether the loss is computed in chunks of tokens: the Cut Cross Entropy plugin ({@code cut_cross_entropy},
     * true by default once the plugin is listed, as the plugin's own argument defaults) or
     * {@code liger_fused_linear_cross_entropy: true}. Any other plugin is refused naming it.
     */
    private boolean chunkedLoss(RawValues r) {
        List<String> plugins = r.stringList("plugins");
        boolean cutCrossEntropyPlugin = false;
        if (plugins != null) {
            for (int i = 0; i < plugins.size(); i++) {
                String p = plugins.get(i);
                if (p.equals(CUT_CROSS_ENTROPY_PLUGIN)) {
                    cutCrossEntropyPlugin = true;
                } else if (!p.equals(LIGER_PLUGIN)) {
                    errors.add(new ConfigError("plugins[" + i + "]", "unsupported feature: plugin '" + p
                            + "' (axolotl-java acts on " + CUT_CROSS_ENTROPY_PLUGIN + " and " + LIGER_PLUGIN + ")"));
                }
            }
        }
        boolean cce = r.bool("cut_cross_entropy", cutCrossEntropyPlugin);
        boolean liger = r.bool("liger_fused_linear_cross_entropy", false);
        return cce || liger;
    }

    private AxolotlConfig doBind(Map<String, Object> raw) {
        classifyKeys(raw);
        RawValues r = new RawValues(raw, "", errors);

        String modelType = r.string("model_type", null);
        List<String> causalLms = new ArrayList<>(ModelFamilies.architectures());
        causalLms.add("AutoModelForCausalLM");
        if (modelType != null && !causalLms.contains(modelType)) {
            errors.add(new ConfigError("model_type", "unsupported feature: model type '" + modelType
                    + "'; axolotl-java trains these causal language models: " + causalLms));
        }
        r.string("tokenizer_type", null);
        Object gc = raw.get("gradient_checkpointing");
        boolean gradientCheckpointing = false;
        if (gc instanceof String s && s.startsWith("offload")) {
            errors.add(new ConfigError("gradient_checkpointing", "unsupported feature: '" + s
                    + "' means activation offloading, which is not available in axolotl-java; use true"));
        } else {
            gradientCheckpointing = r.bool("gradient_checkpointing", false);
        }
        r.map("gradient_checkpointing_kwargs");
        ModelSettings model = new ModelSettings(r.string("base_model", null), r.bool("reinit_weights", false),
                r.string("tokenizer_config", null), gradientCheckpointing, chunkedLoss(r), specialTokens(r),
                r.string("revision_of_model", null), new AdapterBinder(r, errors, warnings).bind());

        List<DatasetConfig> datasets = bindDatasets(r);

        boolean packing = r.bool("sample_packing", false);
        Object pad = raw.get("pad_to_sequence_len");
        DataSettings data = new DataSettings(r.string("dataset_prepared_path", null),
                r.number("val_set_size", 0.0), r.integer("sequence_len", 512), packing,
                pad == null ? packing : r.bool("pad_to_sequence_len", false), r.bool("train_on_inputs", false),
                r.integer("min_sample_len", 0), bindChat(r));
        r.bool("eval_sample_packing", packing);

        TrainingSettings training = bindTraining(r);
        OptimizerSettings optimizer = bindOptimizer(r);

        String sched = r.string("lr_scheduler", "cosine");
        if (!SCHEDULERS.contains(sched)) {
            errors.add(new ConfigError("lr_scheduler", "unsupported value '" + sched + "'; expected one of "
                    + String.join(", ", SCHEDULERS)));
            sched = "cosine";
        }
        SchedulerSettings scheduler = new SchedulerSettings(sched, r.integer("warmup_steps", null),
                r.number("warmup_ratio", null), r.number("cosine_min_lr_ratio", 0.0));

        String resume = null;
        Object rfc = raw.get("resume_from_checkpoint");
        if (Boolean.TRUE.equals(rfc) || (r.bool("auto_resume_from_checkpoints", false) && rfc == null)) {
            resume = "latest";
        } else if (rfc != null && !Boolean.FALSE.equals(rfc)) {
            resume = r.string("resume_from_checkpoint", null);
        }
        CheckpointSettings checkpoint = new CheckpointSettings(r.string("output_dir", "./model-out"),
                r.integer("save_steps", null), r.integer("saves_per_epoch", null),
                r.integer("save_total_limit", 4), r.oneOf("save_strategy", null, List.of("steps", "epoch", "no")),
                r.bool("save_only_model", false), resume, r.bool("overwrite_output_dir", false));

        PrecisionSettings precision = new PrecisionSettings(r.autoBool("bf16", "auto"), r.bool("fp16", false),
                r.autoBool("tf32", "auto"));

        ParallelSettings parallel = bindParallel(r, raw);
        r.bool("ddp", false);
        r.bool("ddp_find_unused_parameters", false);
        r.bool("ddp_broadcast_buffers", false);
        r.integer("world_size", null);
        r.integer("local_rank", null);

        return new AxolotlConfig(model, datasets, data, training, optimizer, scheduler, checkpoint, precision,
                parallel);
    }

    private List<DatasetConfig> bindDatasets(RawValues r) {
        List<Object> items = r.list("datasets");
        if (items == null) {
            return List.of();
        }
        List<DatasetConfig> out = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            String p = "datasets[" + i + "]";
            if (!(items.get(i) instanceof Map<?, ?> m)) {
                errors.add(new ConfigError(p, "expected a mapping with path and type"));
                continue;
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> item = (Map<String, Object>) m;
            RawValues d = new RawValues(item, p, errors);
            for (String k : item.keySet()) {
                if (!ConfigKeys.DATASET_KEYS.contains(k)) {
                    String hint = Suggestions.closest(k, ConfigKeys.DATASET_KEYS)
                            .map(s -> " (did you mean '" + s + "'?)").orElse("");
                    errors.add(new ConfigError(p + "." + k, "unknown dataset key" + hint
                            + "; supported: path, type, field, ds_type, data_files, split and the chat_template keys"));
                }
            }
            String type = d.string("type", null);
            if (type != null && type.startsWith("sharegpt")) {
                errors.add(new ConfigError(p + ".type", "`type: sharegpt.*` is deprecated. Please use "
                        + "`type: chat_template` instead."));
                type = null;
            } else if (type != null && !List.of("completion", "alpaca", "chat_template", "pretokenized")
                    .contains(type)) {
                errors.add(new ConfigError(p + ".type", "unsupported dataset type '" + type
                        + "'; expected completion, alpaca, chat_template, or no type for rows with input_ids"));
                type = null;
            }
            String split = d.string("split", "train");
            String splitProblem = ai.axolotl.data.SplitSpec.problem(split);
            if (splitProblem != null) {
                errors.add(new ConfigError(p + ".split", splitProblem));
            }
            ChatDataset chat = null;
            if ("chat_template".equals(type)) {
                chat = bindChatDataset(d, p);
            } else {
                for (String k : CHAT_DATASET_KEYS) {
                    if (item.containsKey(k) && item.get(k) != null) {
                        warnings.add(p + "." + k + " has no effect: it belongs to type: chat_template datasets");
                    }
                }
            }
            String dsType = d.string("ds_type", null);
            out.add(new DatasetConfig(d.string("path", null), type, d.string("field", null),
                    dsType, d.stringList("data_files"), split, chat, d.string("name", null),
                    d.string("revision", null)));
        }
        return out;
    }

    /** Dataset keys of {@code type: chat_template}. */
    static final List<String> CHAT_DATASET_KEYS = List.of("field_messages", "message_property_mappings",
            "message_field_role", "message_field_content", "roles", "roles_to_train", "train_on_eos", "train_on_eot",
            "drop_system_message", "field_system", "field_tools", "field_thinking", "template_thinking_key",
            "split_thinking", "message_field_training", "message_field_training_detail", "chat_template",
            "chat_template_jinja");
    private static final List<String> EOS_OPTIONS = List.of("all", "turn", "last", "none");

    private ChatDataset bindChatDataset(RawValues d, String p) {
        Map<String, String> mappings = new java.util.LinkedHashMap<>();
        mappings.put("role", "role");
        mappings.put("content", "content");
        Map<String, Object> given = d.map("message_property_mappings");
        if (given != null) {
            given.forEach((k, v) -> {
                if (v instanceof String s) {
                    mappings.put(k, s);
                } else {
                    errors.add(new ConfigError(p + ".message_property_mappings." + k, "expected a field name"));
                }
            });
        }
        for (String legacy : List.of("role", "content")) {
            String key = "message_field_" + legacy;
            String v = d.string(key, null);
            if (v == null) {
                continue;
            }
            if (given != null && given.containsKey(legacy) && !v.equals(given.get(legacy))) {
                errors.add(new ConfigError(p + "." + key, "conflicts with message_property_mappings." + legacy
                        + " ('" + given.get(legacy) + "' vs '" + v + "')"));
            } else {
                warnings.add(p + "." + key + " is deprecated; use message_property_mappings: {" + legacy + ": " + v
                        + "} instead");
                mappings.put(legacy, v);
            }
        }
        Map<String, List<String>> roles = ChatDataset.DEFAULT_ROLES;
        Map<String, Object> givenRoles = d.map("roles");
        if (givenRoles != null) {
            roles = new java.util.LinkedHashMap<>();
            for (Map.Entry<String, Object> e : givenRoles.entrySet()) {
                if (e.getValue() instanceof List<?> l && l.stream().allMatch(x -> x instanceof String)) {
                    roles.put(e.getKey(), l.stream().map(String::valueOf).toList());
                } else {
                    errors.add(new ConfigError(p + ".roles." + e.getKey(), "expected a list of dataset role names"));
                }
            }
        }
        List<String> rolesToTrain = d.isSet("roles_to_train") ? d.stringList("roles_to_train") : List.of("assistant");
        String eos = d.oneOf("train_on_eos", "turn", EOS_OPTIONS);
        String eot = d.oneOf("train_on_eot", eos, EOS_OPTIONS);
        String jinja = d.string("chat_template_jinja", null);
        String template = d.string("chat_template", jinja != null ? "jinja" : "tokenizer_default");
        checkTemplateChoice(p + ".chat_template", template, jinja);
        return new ChatDataset(d.string("field_messages", "messages"), mappings, roles,
                rolesToTrain == null ? List.of() : rolesToTrain, eos, eot, d.bool("drop_system_message", false),
                d.string("field_system", "system"), d.string("field_tools", "tools"),
                d.string("field_thinking", "reasoning_content"), d.string("template_thinking_key", "reasoning_content"),
                d.bool("split_thinking", false), d.string("message_field_training", "training"),
                d.string("message_field_training_detail", "train_detail"), template, jinja);
    }

    private void checkTemplateChoice(String key, String choice, String jinja) {
        if (choice == null || choice.equals("tokenizer_default")) {
            return;
        }
        if (choice.equals("jinja")) {
            if (jinja == null) {
                errors.add(new ConfigError(key, "chat_template: jinja needs chat_template_jinja (the template text or "
                        + "a path to a .jinja file)"));
            }
            return;
        }
        String bundled = choice.startsWith("tokenizer_default_fallback_")
                ? choice.substring("tokenizer_default_fallback_".length()) : choice;
        if (!ChatSettings.BUNDLED.contains(bundled)) {
            errors.add(new ConfigError(key, "unsupported feature: the chat template '" + bundled + "' is not bundled "
                    + "with axolotl-java (bundled: " + String.join(", ", ChatSettings.BUNDLED) + "); use "
                    + "tokenizer_default, or jinja with chat_template_jinja"));
        }
    }

    private ChatSettings bindChat(RawValues r) {
        String jinja = r.string("chat_template_jinja", null);
        String template = r.string("chat_template", jinja != null ? "jinja" : null);
        checkTemplateChoice("chat_template", template, jinja);
        List<String> eot = r.isSet("eot_tokens") ? r.stringList("eot_tokens") : null;
        Map<String, Object> kwargs = r.map("chat_template_kwargs");
        return new ChatSettings(template, jinja, eot, kwargs);
    }

    private Map<String, String> specialTokens(RawValues r) {
        Map<String, Object> m = r.map("special_tokens");
        if (m == null) {
            return Map.of();
        }
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, Object> e : m.entrySet()) {
            if (!List.of("bos_token", "eos_token", "pad_token", "unk_token").contains(e.getKey())) {
                errors.add(new ConfigError("special_tokens." + e.getKey(), "unsupported feature: only bos_token, "
                        + "eos_token, pad_token and unk_token can be set (adding tokens is not supported)"));
            } else if (e.getValue() instanceof String s) {
                out.put(e.getKey(), s);
            } else if (e.getValue() != null) {
                errors.add(new ConfigError("special_tokens." + e.getKey(), "expected a token string"));
            }
        }
        return out;
    }

    private TrainingSettings bindTraining(RawValues r) {
        Integer mbs = r.integer("micro_batch_size", null);
        Integer gas = r.integer("gradient_accumulation_steps", null);
        Integer batch = r.integer("batch_size", null);
        int set = (mbs != null ? 1 : 0) + (gas != null ? 1 : 0) + (batch != null ? 1 : 0);
        if (set < 2) {
            errors.add(new ConfigError("micro_batch_size", "at least two of micro_batch_size, "
                    + "gradient_accumulation_steps, batch_size must be set"));
        }
        if (gas != null && batch != null) {
            errors.add(new ConfigError("batch_size", "please set only one of gradient_accumulation_steps or "
                    + "batch_size"));
        }
        if (batch != null) {
            warnings.add("batch_size is not recommended; set gradient_accumulation_steps instead "
                    + "(batch_size / micro_batch_size / number of ranks)");
        }
        int micro = mbs != null ? mbs : 1;
        if (mbs == null && batch != null && gas != null && gas > 0) {
            micro = Math.max(1, batch / gas);
        }
        int accumulation = gas != null ? gas : (batch != null && micro > 0 ? Math.max(1, batch / micro) : 1);
        Integer evalBatch = r.integer("eval_batch_size", micro);
        Double watchdog = r.number("loss_watchdog_threshold", null);
        Integer patience = r.integer("loss_watchdog_patience", 3);
        String evalStrategy = r.oneOf("eval_strategy", null, List.of("steps", "epoch", "no"));
        Integer evalSteps = r.integer("eval_steps", null);
        Integer evalsPerEpoch = r.integer("evals_per_epoch", null);
        if (evalSteps != null && evalsPerEpoch != null) {
            errors.add(new ConfigError("evals_per_epoch", "evals_per_epoch and eval_steps are mutually exclusive"));
        }
        if (evalStrategy != null && evalSteps != null && !"steps".equals(evalStrategy)) {
            errors.add(new ConfigError("eval_strategy", "eval_strategy and eval_steps mismatch: eval_steps needs "
                    + "eval_strategy: steps"));
        }
        if ("no".equals(evalStrategy)) {
            evalSteps = null;
            evalsPerEpoch = null;
        }
        return new TrainingSettings(micro, accumulation, evalBatch == null ? micro : evalBatch,
                r.number("num_epochs", 1.0), r.integer("max_steps", null), r.integer("logging_steps", null),
                r.longValue("seed", 42), evalSteps, evalsPerEpoch, watchdog, patience == null ? 3 : patience);
    }

    /** bitsandbytes' note for a paged optimizer off CUDA (paging is CUDA unified memory). */
    static final String PAGED = "paging optimizer state through CUDA unified memory is not available here "
            + "(bitsandbytes: Paged optimizers are not supported on CPU. Falling back to non-paged optimizer "
            + "behavior.)";

    /** The low-bit optimizer names Axolotl accepts, to the canonical name of their state format. */
    static final Map<String, String> LOW_BIT = Map.of("adamw_bnb_8bit", "adamw_8bit", "adamw_8bit", "adamw_8bit",
            "paged_adamw_8bit", "adamw_8bit", "adamw_torch_8bit", "adamw_torch_8bit", "ao_adamw_8bit",
            "adamw_torch_8bit", "adamw_torch_4bit", "adamw_torch_4bit", "ao_adamw_4bit", "adamw_torch_4bit");

    private OptimizerSettings bindOptimizer(RawValues r) {
        String name = r.string("optimizer", "adamw_torch_fused");
        String canonical;
        if (ADAMW_NAMES.contains(name)) {
            canonical = "adamw";
        } else if (name.equals("sgd")) {
            canonical = "sgd";
        } else if (name.equals("paged_adamw_32bit")) {
            // bitsandbytes' 32-bit AdamW whose state pages between GPU and host through CUDA unified memory
            warnings.add("optimizer: paged_adamw_32bit runs as plain AdamW (fp32 states): " + PAGED);
            canonical = "adamw";
        } else if (LOW_BIT.containsKey(name)) {
            canonical = LOW_BIT.get(name);
            if (name.startsWith("paged_")) {
                warnings.add("optimizer: paged_adamw_8bit runs as adamw_8bit: " + PAGED);
            } else if (name.startsWith("ao_")) {
                warnings.add("optimizer: " + name + " is deprecated in Axolotl; it is " + canonical);
            }
            boolean fsdp2 = Integer.valueOf(2).equals(r.integer("fsdp_version", null));
            Integer tp = r.integer("tensor_parallel_size", null);
            if (fsdp2 && (name.equals("adamw_8bit") || name.equals("adamw_bnb_8bit"))) {
                errors.add(new ConfigError("optimizer", "FSDP2 not compatible with " + name
                        + ", use `adamw_torch_8bit` instead"));
            } else if (tp != null && tp > 1 && canonical.equals("adamw_8bit")) {
                errors.add(new ConfigError("optimizer", "tensor_parallel_size is not supported with "
                        + "paged_adamw_8bit, adamw_8bit, and adamw_bnb_8bit optimizers"));
            } else if (tp != null && tp > 1) {
                errors.add(new ConfigError("optimizer", "unsupported feature: " + name + " with "
                        + "tensor_parallel_size > 1 (blocks of tensor-parallel slices are not built; AdamW is)"));
            }
        } else {
            errors.add(new ConfigError("optimizer", "unsupported optimizer '" + name + "'; supported: "
                    + "adamw_torch (also adamw_torch_fused, adamw_hf, adamw, paged_adamw_32bit), adamw_bnb_8bit "
                    + "(also adamw_8bit, paged_adamw_8bit), adamw_torch_8bit, adamw_torch_4bit and sgd"));
            canonical = "adamw";
        }
        if (canonical.equals("sgd") && (r.isSet("adam_beta1") || r.isSet("adam_beta2")
                || r.isSet("adam_epsilon"))) {
            warnings.add("adamw hyperparameters found, but no adamw optimizer set");
        }
        Double lr = r.number("learning_rate", null);
        if (lr == null && !r.isSet("learning_rate")) {
            errors.add(new ConfigError("learning_rate", "is required (a positive number such as 2e-4)"));
        }
        Double loraplus = r.number("loraplus_lr_ratio", null);
        double loraplusEmbedding = r.number("loraplus_lr_embedding", 1e-6);
        double weightDecay = r.number("weight_decay", 0.0);
        if (loraplus != null && canonical.equals("sgd")) {
            errors.add(new ConfigError("loraplus_lr_ratio", "LoRA+ groups an AdamW optimizer; optimizer is sgd"));
        } else if (loraplus != null && r.isSet("lr_groups")) {
            errors.add(new ConfigError("loraplus_lr_ratio", "lr_groups and loraplus_lr_ratio cannot be used "
                    + "together."));
        } else if (loraplus != null && weightDecay > 0) {
            warnings.add("weight_decay " + weightDecay + " has no effect with loraplus_lr_ratio: PEFT's LoRA+ "
                    + "optimizer gives every group loraplus_weight_decay (0.0)");
        }
        return new OptimizerSettings(canonical, lr == null ? 1e-4 : lr, weightDecay,
                r.number("adam_beta1", 0.9), r.number("adam_beta2", 0.999), r.number("adam_epsilon", 1e-8),
                r.number("max_grad_norm", 1.0), loraplus, loraplusEmbedding);
    }

    private ParallelSettings bindParallel(RawValues r, Map<String, Object> raw) {
        String dsPath = null;
        Map<String, Object> dsInline = null;
        Object ds = raw.get("deepspeed");
        if (ds instanceof String s && !s.isBlank()) {
            dsPath = s;
        } else if (ds instanceof Map<?, ?>) {
            dsInline = r.map("deepspeed");
        } else if (ds != null) {
            errors.add(new ConfigError("deepspeed", "expected a path to a DeepSpeed JSON file or an inline mapping"));
        }
        List<String> fsdp = null;
        Object fsdpRaw = raw.get("fsdp");
        if (fsdpRaw instanceof String s) {
            fsdp = List.of(s.trim().split("\\s+"));
        } else if (fsdpRaw != null) {
            fsdp = r.stringList("fsdp");
        }
        Integer version = r.integer("fsdp_version", null);
        Map<String, Object> fsdpConfig = null;
        Map<String, Object> fc = r.map("fsdp_config");
        if (fc != null) {
            fsdpConfig = new LinkedHashMap<>();
            boolean prefixed = false;
            for (Map.Entry<String, Object> e : fc.entrySet()) {
                String k = e.getKey();
                if (k.startsWith("fsdp_") && !k.equals("fsdp_version")) {
                    prefixed = true;
                    k = k.substring("fsdp_".length());
                }
                if (!ConfigKeys.FSDP_KEYS.contains(k)) {
                    String hint = Suggestions.closest(k, ConfigKeys.FSDP_KEYS).map(s -> " (did you mean '" + s + "'?)")
                            .orElse("");
                    errors.add(new ConfigError("fsdp_config." + e.getKey(), "unknown fsdp_config key" + hint));
                    continue;
                }
                if (k.equals("version") || k.equals("fsdp_version")) {
                    Integer v = new RawValues(fc, "fsdp_config", errors).integer(e.getKey(), null);
                    if (version != null && v != null && !version.equals(v)) {
                        errors.add(new ConfigError("fsdp_config." + e.getKey(), "fsdp_version " + v
                                + " contradicts top-level fsdp_version " + version));
                    }
                    if (version == null) {
                        version = v;
                    }
                    continue;
                }
                fsdpConfig.put(k, e.getValue());
            }
            if (prefixed) {
                warnings.add("configuring FSDP fields with the `fsdp_` prefix is deprecated; the prefix was "
                        + "stripped (axolotl migrate-config rewrites the file)");
            }
        }
        boolean fsdpOn = fsdpConfig != null || (fsdp != null && !fsdp.isEmpty());
        if (fsdpOn && version == null) {
            version = 1;
        }
        if (version != null && version != 1 && version != 2) {
            errors.add(new ConfigError("fsdp_version", "expected 1 or 2, got " + version));
        }
        if (fsdpOn && version != null && version == 1) {
            warnings.add("FSDP1 is deprecated and will be removed; consider migrating to fsdp_version: 2");
        }
        if (!fsdpOn) {
            version = r.isSet("fsdp_version") ? version : null;
        }
        Integer cp = r.integer("context_parallel_size", null);
        Integer spd = r.integer("sequence_parallel_degree", null);
        if (spd != null) {
            warnings.add("`sequence_parallel_degree` is deprecated, use `context_parallel_size`");
            if (cp == null) {
                cp = spd;
            }
        }
        FsdpSettings fsdpSettings = fsdpOn ? FsdpConfigBinder.bind(fsdpConfig == null ? Map.of() : fsdpConfig,
                errors, warnings) : null;
        return new ParallelSettings(dsPath, dsInline, fsdp, fsdpConfig, fsdpSettings, version, null,
                r.integer("tensor_parallel_size", 1), cp == null ? 1 : cp, r.integer("dp_shard_size", null),
                r.integer("dp_replicate_size", 1), r.integer("ddp_timeout", null),
                r.integer("ddp_bucket_cap_mb", null), r.bool("tensor_parallel_sequence_parallel", true),
                r.integer("heads_k_stride", null), ringAttnFunc(r, cp == null ? 1 : cp, errors, warnings));
    }

    /** Axolotl's two values; batch_ring runs the same exact, document-aware kernel here (warned). */
    private static String ringAttnFunc(RawValues r, int cp, List<ConfigError> errors, List<String> warnings) {
        String f = r.string("ring_attn_func", null);
        if (f == null) {
            return null;
        }
        if (!f.equals("varlen_llama3") && !f.equals("batch_ring")) {
            errors.add(new ConfigError("ring_attn_func", "expected one of [varlen_llama3, batch_ring], got '" + f
                    + "'"));
        } else if (cp <= 1) {
            warnings.add("ring_attn_func has no effect: context_parallel_size is 1");
        } else if (f.equals("batch_ring")) {
            warnings.add("ring_attn_func: batch_ring runs the same kernel as varlen_llama3 here: keys and values "
                    + "gathered over the cp group, attention kept inside each packed document (Axolotl's batch_ring "
                    + "attends across documents, axolotl#3608)");
        }
        return f;
    }
}
