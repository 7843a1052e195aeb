package ai.axolotl.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The DeepSpeed JSON's {@code optimizer}, {@code scheduler} and {@code communication_data_type}, read as DeepSpeed
 * reads them: {@code "auto"} (or absent) takes the Axolotl config's value, an explicit value must agree with the
 * Axolotl key that drives training here, else it is an error naming both keys (a DeepSpeed lr or betas are never
 * silently replaced), and a type this library does not have is refused naming it.
 */
final class DeepSpeedBlocks {
    /** DeepSpeed scheduler types and the Axolotl lr_scheduler each corresponds to. */
    private static final Map<String, String> SCHEDULERS = Map.of("warmuplr", "constant_with_warmup",
            "warmupdecaylr", "linear", "warmupcosinelr", "cosine");

    private DeepSpeedBlocks() {}

    static void checkOptimizer(JsonNode block, AxolotlConfig a, List<ConfigError> errors) {
        if (block.isMissingNode() || block.isNull()) {
            return;
        }
        String type = block.path("type").asText("");
        String t = type.toLowerCase(Locale.ROOT);
        if (!t.equals("adamw") && !t.equals("adam") && !t.equals("auto")) {
            errors.add(new ConfigError("deepspeed.optimizer.type", "'" + type + "' is not available; the optimizer "
                    + "is AdamW (optimizer: adamw_torch) or SGD"));
            return;
        }
        if (!t.equals("auto") && !a.optimizer().optimizer().equals("adamw")) {
            errors.add(new ConfigError("deepspeed.optimizer.type", "is " + type + " but optimizer is "
                    + a.optimizer().optimizer() + "; use \"auto\" or make them agree"));
        }
        JsonNode p = block.path("params");
        OptimizerSettings o = a.optimizer();
        match(p.path("lr"), "deepspeed.optimizer.params.lr", o.learningRate(), "learning_rate", errors);
        match(p.path("eps"), "deepspeed.optimizer.params.eps", o.adamEpsilon(), "adam_epsilon", errors);
        match(p.path("weight_decay"), "deepspeed.optimizer.params.weight_decay", o.weightDecay(), "weight_decay",
                errors);
        JsonNode betas = p.path("betas");
        if (betas.isArray()) {
            if (betas.size() != 2) {
                errors.add(new ConfigError("deepspeed.optimizer.params.betas", "expected two numbers, got " + betas));
            } else {
                match(betas.get(0), "deepspeed.optimizer.params.betas[0]", o.adamBeta1(), "adam_beta1", errors);
                match(betas.get(1), "deepspeed.optimizer.params.betas[1]", o.adamBeta2(), "adam_beta2", errors);
            }
        } else if (!betas.isMissingNode() && !"auto".equals(betas.asText())) {
            errors.add(new ConfigError("deepspeed.optimizer.params.betas", "expected \"auto\" or two numbers, got "
                    + betas));
        }
    }

    static void checkScheduler(JsonNode block, AxolotlConfig a, List<ConfigError> errors) {
        if (block.isMissingNode() || block.isNull()) {
            return;
        }
        String type = block.path("type").asText("");
        String axolotl = SCHEDULERS.get(type.toLowerCase(Locale.ROOT));
        if (axolotl == null && !type.equalsIgnoreCase("auto")) {
            errors.add(new ConfigError("deepspeed.scheduler.type", "'" + type + "' is not available; expected "
                    + "WarmupLR, WarmupDecayLR or WarmupCosineLR (or set lr_scheduler and drop the block)"));
            return;
        }
        SchedulerSettings s = a.scheduler();
        if (axolotl != null && !axolotl.equals(s.lrScheduler())) {
            errors.add(new ConfigError("deepspeed.scheduler.type", "is " + type + " (" + axolotl + ") but "
                    + "lr_scheduler is " + s.lrScheduler() + "; use \"auto\" or make them agree"));
        }
        JsonNode p = block.path("params");
        match(p.path("warmup_max_lr"), "deepspeed.scheduler.params.warmup_max_lr", a.optimizer().learningRate(),
                "learning_rate", errors);
        match(p.path("warmup_min_lr"), "deepspeed.scheduler.params.warmup_min_lr", 0.0,
                "the warmup start (always 0 here)", errors);
        JsonNode type2 = p.path("warmup_type");
        if (!type2.isMissingNode() && !"auto".equals(type2.asText()) && !"linear".equals(type2.asText())) {
            errors.add(new ConfigError("deepspeed.scheduler.params.warmup_type", "'" + type2.asText() + "' is not "
                    + "available; warmup is linear (Hugging Face semantics)"));
        }
        matchSteps(p.path("warmup_num_steps"), "deepspeed.scheduler.params.warmup_num_steps", s.warmupSteps(),
                "warmup_steps", errors);
        matchSteps(p.path("total_num_steps"), "deepspeed.scheduler.params.total_num_steps", a.training().maxSteps(),
                "max_steps", errors);
    }

    /** {@code float32} (absent, "auto" or fp32) or {@code bfloat16}; fp16 is refused. */
    static String communicationDataType(JsonNode v, List<ConfigError> errors) {
        if (v.isMissingNode() || v.isNull() || "auto".equals(v.asText())) {
            return "float32";
        }
        return switch (v.asText().toLowerCase(Locale.ROOT)) {
            case "fp32", "float32", "float" -> "float32";
            case "bf16", "bfloat16" -> "bfloat16";
            default -> {
                errors.add(new ConfigError("deepspeed.communication_data_type", "expected fp32 or bf16, got '"
                        + v.asText() + "'"));
                yield "float32";
            }
        };
    }

    private static void match(JsonNode v, String key, double axolotl, String axolotlKey, List<ConfigError> errors) {
        if (v == null || v.isMissingNode() || v.isNull() || "auto".equals(v.asText())) {
            return;
        }
        if (!v.isNumber()) {
            errors.add(new ConfigError(key, "expected \"auto\" or a number, got " + v));
        } else if (Math.abs(v.asDouble() - axolotl) > 1e-12 * Math.max(1, Math.abs(axolotl))) {
            errors.add(new ConfigError(key, "is " + v.asDouble() + " but " + axolotlKey + " is " + axolotl
                    + "; use \"auto\" or make them equal"));
        }
    }

    private static void matchSteps(JsonNode v, String key, Integer axolotl, String axolotlKey,
                                   List<ConfigError> errors) {
        if (v.isMissingNode() || v.isNull() || "auto".equals(v.asText())) {
            return;
        }
        if (!v.canConvertToInt()) {
            errors.add(new ConfigError(key, "expected \"auto\" or an integer, got " + v));
        } else if (axolotl == null || axolotl != v.asInt()) {
            errors.add(new ConfigError(key, "is " + v.asInt() + " but " + axolotlKey + " is "
                    + (axolotl == null ? "not set" : axolotl) + "; use \"auto\" or set " + axolotlKey + ": "
                    + v.asInt()));
        }
    }
}
