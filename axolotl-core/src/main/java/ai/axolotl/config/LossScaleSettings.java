package ai.axolotl.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * How fp16 training scales its loss: the backward runs on {@code loss x scale} so small gradients survive half
 * precision; a step whose gradients overflow (inf/NaN) is skipped. Dynamic scaling halves the scale after
 * {@code hysteresis} overflows and doubles it after {@code growthInterval} steps without one. Without a DeepSpeed
 * {@code fp16} block the values are PyTorch's {@code GradScaler} defaults (what Hugging Face's Trainer uses for
 * {@code fp16: true}); with one they come from its keys.
 *
 * @param initialScale scale of the first step (DeepSpeed: 2^{@code initial_scale_power})
 * @param growthInterval good steps before the scale doubles ({@code loss_scale_window})
 * @param hysteresis overflows tolerated before the scale halves ({@code hysteresis}; 1 halves on every overflow)
 * @param consecutiveHysteresis a good step refills the hysteresis ({@code consecutive_hysteresis})
 * @param minScale the scale never goes below this ({@code min_loss_scale}); an overflow at this scale ends the run
 *     (0: no floor)
 * @param dynamic false for a fixed scale ({@code loss_scale} greater than 0): overflowing steps are skipped, the
 *     scale never changes
 */
public record LossScaleSettings(double initialScale, int growthInterval, int hysteresis,
                                boolean consecutiveHysteresis, double minScale, boolean dynamic) implements Serializable {
    /** PyTorch {@code torch.amp.GradScaler}'s defaults: 2^16, doubling every 2000 good steps, halving on overflow. */
    public static final LossScaleSettings TORCH_DEFAULTS = new LossScaleSettings(65536, 2000, 1, false, 0, true);

    private static final Set<String> ACTED_ON = Set.of("enabled", "loss_scale", "initial_scale_power",
            "loss_scale_window", "hysteresis", "consecutive_hysteresis", "min_loss_scale");

    /** Checks the ranges. */
    public LossScaleSettings {
        if (!(initialScale > 0) || growthInterval < 1 || hysteresis < 1 || minScale < 0) {
            throw new IllegalArgumentException("loss scale settings out of range: initial " + initialScale
                    + ", growth interval " + growthInterval + ", hysteresis " + hysteresis + ", min " + minScale);
        }
    }

    /** The settings a config trains fp16 with: its DeepSpeed {@code fp16} block's, else PyTorch's defaults. */
    public static LossScaleSettings forConfig(AxolotlConfig config) {
        DeepSpeedConfig ds = config.parallel().deepSpeedSettings();
        return ds != null && ds.lossScale() != null ? ds.lossScale() : TORCH_DEFAULTS;
    }

    /**
     * Reads DeepSpeed's {@code fp16} block (DeepSpeed's defaults for absent keys: 2^16, window 1000, hysteresis 2,
     * min 1). Returns null when the block is absent. Keys that have no effect are warned about, unknown keys and
     * bad values are errors naming the key.
     */
    static LossScaleSettings fromDeepSpeed(JsonNode fp16, List<ConfigError> errors, List<String> warnings) {
        if (fp16.isMissingNode() || !fp16.isObject()) {
            return null;
        }
        List<String> noEffect = new ArrayList<>();
        fp16.fieldNames().forEachRemaining(k -> {
            JsonNode v = fp16.get(k);
            switch (k) {
                case "auto_cast" -> {
                    if (v.asBoolean(false)) {
                        noEffect.add("deepspeed.fp16.auto_cast (with fp16 on, every unit computes in fp16 already)");
                    }
                }
                case "fp16_master_weights_and_grads" -> {
                    if (v.asBoolean(false)) {
                        noEffect.add("deepspeed.fp16.fp16_master_weights_and_grads (master weights, gradients and "
                                + "optimizer state stay fp32)");
                    }
                }
                default -> {
                    if (!ACTED_ON.contains(k)) {
                        errors.add(new ConfigError("deepspeed.fp16." + k, "unknown DeepSpeed fp16 key (known: "
                                + "enabled, loss_scale, initial_scale_power, loss_scale_window, hysteresis, "
                                + "consecutive_hysteresis, min_loss_scale, auto_cast, fp16_master_weights_and_grads)"));
                    }
                }
            }
        });
        if (!noEffect.isEmpty()) {
            warnings.add("DeepSpeed keys accepted with no effect here: " + String.join("; ", noEffect));
        }
        double fixed = number(fp16, "loss_scale", 0, errors);
        double power = number(fp16, "initial_scale_power", 16, errors);
        double window = number(fp16, "loss_scale_window", 1000, errors);
        double hysteresis = number(fp16, "hysteresis", 2, errors);
        double min = number(fp16, "min_loss_scale", 1, errors);
        JsonNode consecutive = fp16.path("consecutive_hysteresis");
        if (fixed < 0) {
            errors.add(new ConfigError("deepspeed.fp16.loss_scale", "expected 0 (dynamic) or a positive fixed scale, "
                    + "got " + fixed));
        }
        if (power < 0 || power > 64 || power != Math.rint(power)) {
            errors.add(new ConfigError("deepspeed.fp16.initial_scale_power", "expected an integer 0-64, got " + power));
        }
        if (window < 1 || window != Math.rint(window)) {
            errors.add(new ConfigError("deepspeed.fp16.loss_scale_window", "expected a positive integer, got "
                    + window));
        }
        if (hysteresis < 1 || hysteresis != Math.rint(hysteresis)) {
            errors.add(new ConfigError("deepspeed.fp16.hysteresis", "expected a positive integer, got " + hysteresis));
        }
        if (min < 0) {
            errors.add(new ConfigError("deepspeed.fp16.min_loss_scale", "expected 0 or more, got " + min));
        }
        if (!consecutive.isMissingNode() && !consecutive.isBoolean()) {
            errors.add(new ConfigError("deepspeed.fp16.consecutive_hysteresis", "expected true or false, got "
                    + consecutive));
        }
        if (fixed < 0 || power < 0 || power > 64 || window < 1 || hysteresis < 1 || min < 0) {
            return null;
        }
        boolean dynamic = fixed == 0;
        return new LossScaleSettings(dynamic ? Math.pow(2, power) : fixed, (int) window, (int) hysteresis,
                consecutive.asBoolean(false), min, dynamic);
    }

    private static double number(JsonNode block, String key, double dflt, List<ConfigError> errors) {
        JsonNode v = block.path(key);
        if (v.isMissingNode() || v.isNull() || "auto".equals(v.asText())) {
            return dflt;
        }
        if (!v.isNumber()) {
            errors.add(new ConfigError("deepspeed.fp16." + key, "expected a number, got " + v));
            return dflt;
        }
        return v.asDouble();
    }
}
