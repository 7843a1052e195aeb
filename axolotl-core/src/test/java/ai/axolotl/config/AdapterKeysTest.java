package ai.axolotl.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static ai.axolotl.config.ConfigLoaderTest.GOOD;
import static ai.axolotl.config.ConfigLoaderTest.errorsOf;
import static ai.axolotl.config.ConfigLoaderTest.write;
import static org.assertj.core.api.Assertions.assertThat;

/** The adapter keys bind into AdapterSettings with Axolotl's rules, and Axolotl's messages are kept verbatim. */
class AdapterKeysTest {
    static String message(Path dir, String yaml, String key) throws Exception {
        return errorsOf(dir, GOOD + yaml).stream().filter(e -> e.key().equals(key)).findFirst()
                .orElseThrow(() -> new AssertionError("no error on " + key)).message();
    }

    @Test
    void loraKeysBindAsAxolotlPassesThemToPeft(@TempDir Path dir) throws Exception {
        ConfigLoader.Loaded l = ConfigLoader.load(write(dir, GOOD + """
                adapter: lora
                lora_r: 16
                lora_alpha: 32
                lora_dropout: 0.05
                lora_target_modules: [q_proj, self_attn.v_proj]
                lora_target_linear: true
                peft_use_rslora: true
                peft_layers_to_transform: [0, 2]
                lora_modules_to_save: [embed_tokens]
                lora_fan_in_fan_out: true
                lora_mlp_kernel: true
                """), Map.of());
        AdapterSettings a = l.config().model().adapter();
        assertThat(a.lora()).isTrue();
        assertThat(a.r()).isEqualTo(16);
        assertThat(a.scaling()).isEqualTo(32 / 4.0);
        assertThat(a.targetModules()).as("the list, then every linear leaf (a string becomes a suffix)")
                .containsExactly("q_proj", "self_attn.v_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj");
        assertThat(a.targetRegex()).isNull();
        assertThat(a.layersToTransform()).containsExactly(0, 2);
        assertThat(a.modulesToSave()).containsExactly("embed_tokens");
        assertThat(l.warnings()).anyMatch(w -> w.contains("lora_fan_in_fan_out"))
                .anyMatch(w -> w.contains("lora_mlp_kernel"));
        AdapterSettings regex = ConfigLoader.load(write(dir, GOOD + "adapter: lora\nlora_r: 8\nlora_alpha: 16\n"
                + "lora_target_modules: '.*\\.(q|v)_proj'\n"), Map.of()).config().model().adapter();
        assertThat(regex.targetRegex()).isEqualTo(".*\\.(q|v)_proj");
        assertThat(regex.targetModules()).isEmpty();
    }

    @Test
    void axolotlsMessagesAreKeptVerbatim(@TempDir Path dir) throws Exception {
        assertThat(message(dir, "load_in_4bit: true\n", "load_in_4bit")).isEqualTo("load_in_8bit and load_in_4bit are "
                + "not supported without setting an adapter for training.If you want to full finetune, please turn "
                + "off load_in_8bit and load_in_4bit.");
        assertThat(message(dir, "adapter: qlora\n", "adapter")).isEqualTo(
                "Require cfg.load_in_4bit to be True for qlora");
        assertThat(message(dir, "adapter: qlora\nload_in_8bit: true\n", "adapter")).isEqualTo(
                "Can't load qlora in 8bit");
        assertThat(message(dir, "adapter: ia3\n", "adapter")).isEqualTo("Adapter 'ia3' is not built in and was not "
                + "registered by a plugin. Add the plugin that provides this adapter to `plugins:`.");
        assertThat(message(dir, "adapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_modules: ['q_proj(']\n",
                "lora_target_modules")).isEqualTo("lora_target_modules contains invalid regex pattern(s): q_proj(. "
                + "Please provide valid Python regex patterns or plain module name strings.");
        assertThat(message(dir, "adapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
                + "peft_layers_pattern: layers\n", "peft_layers_pattern"))
                .isEqualTo("peft_layers_pattern requires peft_layers_to_transform to be set");
    }

    @Test
    void whatIsNotBuiltIsRefusedNamingTheKey(@TempDir Path dir) throws Exception {
        String lora = "adapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n";
        assertThat(message(dir, "adapter: lora\n", "lora_r")).contains("is required");
        assertThat(message(dir, "adapter: lora\nlora_r: 8\nlora_alpha: 16\n", "lora_target_modules"))
                .contains("lora_target_linear");
        assertThat(message(dir, lora + "peft_use_dora: true\n", "peft_use_dora")).contains("DoRA");
        assertThat(message(dir, lora + "peft_init_lora_weights: pissa\n", "peft_init_lora_weights"))
                .contains("'pissa'");
        assertThat(message(dir, lora + "load_in_8bit: true\n", "load_in_8bit")).contains("LLM.int8");
        assertThat(message(dir, lora + "loraplus_lr_ratio: 16\nlr_groups: [{name: a}]\n", "loraplus_lr_ratio"))
                .isEqualTo("lr_groups and loraplus_lr_ratio cannot be used together.");
        assertThat(message(dir, "unfrozen_parameters: ['model.embed_tokens.weight$[:32000]']\n",
                "unfrozen_parameters")).contains("index ranges");
    }

    @Test
    void unfrozenParametersFollowAxolotlsPatternGrammar(@TempDir Path dir) throws Exception {
        AdapterSettings a = ConfigLoader.load(write(dir, GOOD + "unfrozen_parameters: ['^lm_head.weight$', "
                + "'model.layers.2[0-9]+.mlp']\n"), Map.of()).config().model().adapter();
        assertThat(a.lora()).isFalse();
        assertThat(a.freezesBase()).isTrue();
        assertThat(a.unfrozenParameters()).containsExactly("^lm_head.weight$", "model.layers.2[0-9]+.mlp");
        assertThat(AdapterSettings.unfrozenRegex("model.layers.2[0-9]+.mlp")).isEqualTo("model\\.layers\\.2[0-9]+\\.mlp");
        assertThat(List.of(AdapterSettings.unfrozenRegex("a.+b"))).containsExactly("a.+b");
    }

    @Test
    void pagedAdamw32bitIsAdamwWithTheNoteThatPagingIsCudaOnly(@TempDir Path dir) throws Exception {
        ConfigLoader.Loaded l = ConfigLoader.load(write(dir, GOOD.replace("adamw_torch_fused", "paged_adamw_32bit")),
                Map.of());
        assertThat(l.config().optimizer().optimizer()).isEqualTo("adamw");
        assertThat(l.warnings()).anyMatch(w -> w.contains("paged_adamw_32bit runs as plain AdamW"));
    }

    @Test
    void lowBitOptimizersBindWithAxolotlsRulesAndMessages(@TempDir Path dir) throws Exception {
        Map<String, String> canonical = Map.of("adamw_bnb_8bit", "adamw_8bit", "adamw_8bit", "adamw_8bit",
                "paged_adamw_8bit", "adamw_8bit", "adamw_torch_8bit", "adamw_torch_8bit", "adamw_torch_4bit",
                "adamw_torch_4bit");
        for (Map.Entry<String, String> e : canonical.entrySet()) {
            ConfigLoader.Loaded l = ConfigLoader.load(write(dir, GOOD.replace("adamw_torch_fused", e.getKey())),
                    Map.of());
            assertThat(l.config().optimizer().optimizer()).as(e.getKey()).isEqualTo(e.getValue());
            if (e.getKey().startsWith("paged")) {
                assertThat(l.warnings()).anyMatch(w -> w.contains("Paged optimizers are not supported on CPU"));
            }
        }
        String fsdp2 = "fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: true\n";
        assertThat(errorsOf(dir, GOOD.replace("adamw_torch_fused", "adamw_bnb_8bit") + fsdp2))
                .filteredOn(e -> e.key().equals("optimizer")).singleElement().extracting(ConfigError::message)
                .isEqualTo("FSDP2 not compatible with adamw_bnb_8bit, use `adamw_torch_8bit` instead");
        assertThat(ConfigLoader.load(write(dir, GOOD.replace("adamw_torch_fused", "adamw_torch_8bit") + fsdp2),
                Map.of()).config().optimizer().optimizer()).isEqualTo("adamw_torch_8bit");
        assertThat(errorsOf(dir, GOOD.replace("adamw_torch_fused", "paged_adamw_8bit")
                + "tensor_parallel_size: 2\n")).filteredOn(e -> e.key().equals("optimizer")).singleElement()
                .extracting(ConfigError::message).isEqualTo("tensor_parallel_size is not supported with "
                        + "paged_adamw_8bit, adamw_8bit, and adamw_bnb_8bit optimizers");
        assertThat(errorsOf(dir, GOOD.replace("adamw_torch_fused", "muon"))).extracting(ConfigError::key)
                .containsExactly("optimizer");
    }

    @Test
    void loraPlusBindsPeftsGroups(@TempDir Path dir) throws Exception {
        ConfigLoader.Loaded l = ConfigLoader.load(write(dir, GOOD + "adapter: lora\nlora_r: 8\nlora_alpha: 16\n"
                + "lora_target_linear: true\nloraplus_lr_ratio: 16\nweight_decay: 0.1\n"), Map.of());
        OptimizerSettings o = l.config().optimizer();
        assertThat(o.loraplusLrRatio()).isEqualTo(16.0);
        assertThat(o.group("model.layers.0.self_attn.q_proj.lora_B.weight", 2)).isEqualTo(
                new OptimizerSettings.Group(16.0, 0.0));
        assertThat(o.group("model.layers.0.self_attn.q_proj.lora_A.weight", 2)).isEqualTo(
                new OptimizerSettings.Group(1.0, 0.0));
        assertThat(o.group("model.embed_tokens.weight", 2).lrScale()).isEqualTo(1e-6 / 2e-4);
        assertThat(o.group("model.norm.weight", 1).lrScale()).as("1-D: group B").isEqualTo(16.0);
        assertThat(l.warnings()).anyMatch(w -> w.contains("loraplus_weight_decay"));
        OptimizerSettings plain = ConfigLoader.load(write(dir, GOOD + "weight_decay: 0.1\n"), Map.of()).config()
                .optimizer();
        assertThat(plain.group("model.layers.0.mlp.up_proj.weight", 2)).isEqualTo(new OptimizerSettings.Group(1, 0.1));
        assertThat(plain.group("model.norm.weight", 1)).isEqualTo(new OptimizerSettings.Group(1, 0.0));
    }
}
