package ai.axolotl.config;

import jakarta.validation.ConstraintViolation;
import jakarta.validation.Validation;
import jakarta.validation.Validator;
import jakarta.validation.ValidatorFactory;
import org.hibernate.validator.messageinterpolation.ParameterMessageInterpolator;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * The single validation pass every configuration goes through: Hibernate Validator constraints on the record
 * fields, then the cross-field rules of {@link ConfigRules}. Errors name YAML key paths.
 */
public final class ConfigValidator {
    private static final Set<String> SECTIONS = Set.of("model", "data", "training", "optimizer", "scheduler",
            "checkpoint", "precision", "parallel");
    private static final Validator VALIDATOR;

    static {
        ValidatorFactory f = Validation.byDefaultProvider().configure()
                .messageInterpolator(new ParameterMessageInterpolator()).buildValidatorFactory();
        VALIDATOR = f.getValidator();
    }

    private ConfigValidator() {}

    /**
     * Validates a bound configuration together with the problems found while binding, and reads the DeepSpeed
     * JSON it names (once: the strategies use what is read here); throws a {@link ConfigException} listing all
     * problems, or returns the config with every warning.
     */
    public static ConfigLoader.Loaded validate(ConfigBinder.Bound bound) {
        List<ConfigError> errors = new ArrayList<>(bound.errors());
        List<String> warnings = new ArrayList<>(bound.warnings());
        AxolotlConfig c = bound.config();
        List<ConfigError> constraintErrors = new ArrayList<>();
        for (ConstraintViolation<AxolotlConfig> v : VALIDATOR.validate(c)) {
            String key = yamlKey(v.getPropertyPath().toString());
            if (errors.stream().anyMatch(e -> e.key().equals(key))) {
                continue; // the binder already reported this key (e.g. a wrong type)
            }
            Object bad = v.getInvalidValue();
            String got = bad == null || bad instanceof Collection<?> ? "" : ", got " + bad;
            constraintErrors.add(new ConfigError(key, v.getMessage() + got));
        }
        constraintErrors.sort(Comparator.comparing(ConfigError::key));
        errors.addAll(constraintErrors);
        ConfigRules.check(c, errors, warnings);
        ParallelSettings p = c.parallel();
        if (p.deepspeedInline() != null || (p.deepspeed() != null && Files.isRegularFile(Path.of(p.deepspeed())))) {
            DeepSpeedConfig ds = DeepSpeedConfig.read(p, c, errors, warnings);
            c = c.withParallel(p.withDeepSpeedSettings(ds));
        }
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        return new ConfigLoader.Loaded(c, warnings);
    }

    /** Converts a record property path ({@code training.microBatchSize}) to a YAML key path. */
    static String yamlKey(String propertyPath) {
        String[] parts = propertyPath.split("\\.");
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            if (i == 0 && parts.length > 1 && SECTIONS.contains(parts[0])) {
                continue;
            }
            if (out.length() > 0) {
                out.append('.');
            }
            out.append(snake(parts[i].replace("<list element>", "")));
        }
        return out.toString();
    }

    static String snake(String camel) {
        StringBuilder b = new StringBuilder();
        for (char ch : camel.toCharArray()) {
            if (Character.isUpperCase(ch)) {
                b.append('_').append(Character.toLowerCase(ch));
            } else {
                b.append(ch);
            }
        }
        return b.toString();
    }
}
