package ai.axolotl.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Every top-level Axolotl key this library knows, and what it does with each: acts on it, accepts it with a
 * warning that it has no effect here, or refuses it (when set to anything but null/false) naming the feature.
 * A key not listed is unknown: an error with the closest known key suggested.
 */
public final class ConfigKeys {
    /** How the library treats a key. */
    public enum Kind {
        /** Parsed, validated and acted on. */
        SUPPORTED,
        /** Accepted; has no effect in this library (a warning says so). */
        NO_EFFECT,
        /** A feature the library does not have; setting it is an error naming the feature. */
        UNSUPPORTED
    }

    /**
     * @param kind how the key is treated
     * @param note for NO_EFFECT and UNSUPPORTED keys, the feature it belongs to or why it has no effect; for
     *     SUPPORTED keys of a nested block, the typed component that carries it ({@code FsdpSettings.x})
     */
    public record Key(Kind kind, String note) {}

    private static final Map<String, Key> KEYS = new LinkedHashMap<>();

    private static void supported(String... names) {
        for (String n : names) {
            KEYS.put(n, new Key(Kind.SUPPORTED, null));
        }
    }

    private static void noEffect(String note, String... names) {
        for (String n : names) {
            KEYS.put(n, new Key(Kind.NO_EFFECT, note));
        }
    }

    private static void unsupported(String feature, String... names) {
        for (String n : names) {
            KEYS.put(n, new Key(Kind.UNSUPPORTED, feature));
        }
    }

    static {
        supported("base_model", "model_type", "reinit_weights", "tokenizer_config",
                "datasets", "dataset_prepared_path", "val_set_size", "sequence_len", "sample_packing",
                "pad_to_sequence_len", "train_on_inputs", "min_sample_len",
                "micro_batch_size", "gradient_accumulation_steps", "batch_size", "eval_batch_size", "num_epochs",
                "max_steps", "learning_rate", "lr_scheduler", "cosine_min_lr_ratio", "warmup_steps",
                "warmup_ratio", "weight_decay", "max_grad_norm", "optimizer", "adam_beta1", "adam_beta2",
                "adam_epsilon", "seed", "output_dir", "logging_steps", "save_steps", "saves_per_epoch",
                "save_total_limit", "save_strategy", "save_only_model", "resume_from_checkpoint", "overwrite_output_dir",
                "auto_resume_from_checkpoints", "eval_steps", "evals_per_epoch", "eval_strategy", "bf16", "fp16", "tf32",
                "gradient_checkpointing", "loss_watchdog_threshold",
                "loss_watchdog_patience",
                // distributed training: parsed and validated here, acted on by the strategies
                "deepspeed", "fsdp", "fsdp_config", "fsdp_version", "tensor_parallel_size",
                "context_parallel_size", "sequence_parallel_degree", "dp_shard_size", "dp_replicate_size",
                "ddp_timeout", "ddp_bucket_cap_mb", "tensor_parallel_sequence_parallel", "heads_k_stride",
                "ring_attn_func");
        noEffect("the tokenizer comes from tokenizer_config or base_model's tokenizer.json, whatever its class",
                "tokenizer_type");
        noEffect("checkpointing recomputes each decoder layer's forward; use_reentrant and friends have no "
                + "counterpart", "gradient_checkpointing_kwargs");
        noEffect("evaluation follows sample_packing; packed and unpacked evaluation give the same token-weighted "
                + "loss since attention never crosses samples", "eval_sample_packing");
        noEffect("data parallel follows from the number of ranks", "ddp");
        noEffect("every parameter of the model receives a gradient, so there is nothing to find",
                "ddp_find_unused_parameters");
        noEffect("the model has no buffers to broadcast", "ddp_broadcast_buffers");
        noEffect("ranks come from the launcher (RANK, WORLD_SIZE, LOCAL_RANK or --nproc-per-node)", "world_size",
                "local_rank");
        noEffect("experiment tracking is not built in (use a TrainingListener)", "wandb_entity", "wandb_log_model",
                "wandb_name", "wandb_project", "wandb_watch", "wandb_run_id", "wandb_mode", "trackio_project_name",
                "trackio_run_name", "trackio_space_id", "use_tensorboard", "mlflow_tracking_uri",
                "mlflow_experiment_name", "comet_api_key", "comet_project_name");
        noEffect("attention always runs through libtorch scaled_dot_product_attention", "flash_attention",
                "sdp_attention", "xformers_attention", "attn_implementation", "flash_attn_cross_entropy",
                "flash_attn_fuse_mlp", "flash_attn_rms_norm", "flash_attn_fuse_qkv", "s2_attention",
                "pretrain_multipack_attn");
        noEffect("this library never runs a repository's code: the families it knows are built in",
                "trust_remote_code");
        noEffect("the Hub token is read as huggingface_hub reads it: HF_TOKEN, else the token file under HF_HOME",
                "hf_use_auth_token");
        noEffect("uploading to the Hub is not built in", "push_dataset_to_hub", "hub_model_id", "hub_strategy");
        noEffect("a Hugging Face loading option with no counterpart here", "low_cpu_mem_usage",
                "experimental_skip_move_to_device", "remove_unused_columns", "skip_prepare_dataset",
                "tokenizer_legacy", "tokenizer_use_fast", "shuffle_merged_datasets", "dataset_num_proc",
                "dataloader_num_workers", "dataloader_pin_memory", "dataloader_prefetch_factor",
                "dataloader_drop_last", "accelerator_config", "torchdistx_path", "total_num_tokens",
                "sample_packing_eff_est", "sample_packing_group_size", "sample_packing_bin_size",
                "sample_packing_sequentially", "sample_packing_mp_start_method", "sample_packing_seq_len_multiplier",
                "strict", "debug", "group_by_length");
        noEffect("generation-based evaluation is not built in", "eval_table_size", "eval_max_new_tokens",
                "do_causal_lm_eval", "eval_causal_lm_metrics", "do_bench_eval", "evaluation_strategy");
        noEffect("torch.compile has no counterpart over libtorch from Java", "torch_compile",
                "torch_compile_backend", "torch_compile_mode", "torch_compile_options");
        // adapters (AdapterBinder): LoRA over a frozen base, and base parameters left trainable
        supported("adapter", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_target_linear",
                "lora_exclude_modules", "lora_modules_to_save", "lora_model_dir", "lora_fan_in_fan_out",
                "peft_use_rslora", "peft_layers_to_transform", "peft_layers_pattern", "peft_init_lora_weights",
                "unfrozen_parameters", "load_in_4bit", "load_in_8bit");
        noEffect("fused LoRA kernels (Triton); the plain path computes the same", "lora_mlp_kernel",
                "lora_qkv_kernel", "lora_o_kernel", "lora_embedding_kernel");
        noEffect("merging is `axolotl merge-lora`, which reads one tensor at a time on the CPU", "merge_lora",
                "merge_method", "lora_on_cpu");
        noEffect("adapters are always float32 masters (PEFT's default)", "peft_autocast_adapter_dtype");
        unsupported("DoRA (peft_use_dora)", "peft_use_dora");
        unsupported("LoRA on 3-D expert parameters (mixture-of-experts families are not built)",
                "lora_target_parameters");
        unsupported("per-module LoRA ranks and alphas", "lora_rank_pattern", "lora_alpha_pattern");
        unsupported("PEFT layer replication and trainable token indices", "peft_layer_replication",
                "peft_trainable_token_indices", "peft_ensure_weight_tying");
        supported("loraplus_lr_ratio", "loraplus_lr_embedding");
        unsupported("quantized base models (bitsandbytes options, GPTQ)", "bnb_config_kwargs",
                "qlora_sharded_model_loading", "gptq", "gptq_groupsize", "gptq_model_v1");
        unsupported("quantization (torchao, llmcompressor, 1-bit)", "model_quantization_config",
                "model_quantization_config_kwargs", "llmcompressor", "use_onebitllms", "qat", "quantize_moe_experts");
        unsupported("FP8 training", "fp8", "fp8_enable_fsdp_float8_all_gather");
        unsupported("RL and preference training (DPO/KTO/ORPO/GRPO)", "rl", "trl", "dpo_beta", "rl_beta");
        unsupported("reward and classification models", "reward_model", "num_labels", "center_rewards_coefficient",
                "cls_model_config", "process_reward_model");
        // plugins: Cut Cross Entropy and Liger are acted on (the chunked loss; Liger's other kernels warn), others refused
        supported("plugins", "cut_cross_entropy", "liger_fused_linear_cross_entropy");
        noEffect("Liger's fused GPU kernel of the same math; axolotl-java computes it unfused, with the same result",
                "liger_rms_norm", "liger_rope", "liger_glu_activation", "liger_layer_norm", "liger_cross_entropy",
                "liger_rms_norm_gated");
        supported("chat_template", "chat_template_jinja", "chat_template_kwargs", "eot_tokens", "special_tokens",
                "revision_of_model");
        unsupported("rewriting the system message of chatml (default_system_message)", "default_system_message");
        unsupported("streaming pretraining datasets", "pretraining_dataset", "streaming",
                "streaming_multipack_buffer_size", "max_packed_sequence_len");
        unsupported("multimodal models", "processor_type", "image_size", "image_resize_algorithm");
        unsupported("mixture-of-experts and custom kernels", "use_kernels", "use_scattermoe", "use_sonicmoe",
                "experts_implementation", "llama4_linearized_experts", "use_dsv4_kernels", "dsv4_fp4_grouped_mode",
                "use_glm_dsa_kernels", "expert_parallel_size", "expert_parallel_num_nvl_bytes",
                "expert_parallel_token_capacity");
        unsupported("activation offloading", "activation_offloading", "layer_offloading");
        unsupported("tiled MLP", "tiled_mlp", "tiled_mlp_num_shards");
        unsupported("the Ray launcher", "use_ray", "ray_num_workers", "resources_per_worker", "ray_run_name");
        unsupported("EAFT", "use_eaft", "eaft_alpha", "eaft_k");
        unsupported("flex attention", "flex_attn_compile_kwargs", "flex_attention");
        unsupported("BetterTransformer", "flash_optimum");
        unsupported("model_config overrides", "model_config", "model_config_type", "overrides_of_model_config");
        unsupported("the Mistral tokenizer", "tokenizer_use_mistral_common");
        unsupported("adding or resizing tokens", "tokens", "added_tokens_overrides", "resize_token_embeddings_to_32x");
        unsupported("early stopping", "early_stopping_patience", "load_best_model_at_end", "metric_for_best_model");
        unsupported("scheduler options beyond warmup and cosine_min_lr_ratio", "lr_quadratic_warmup",
                "cosine_constant_lr_ratio", "eta_min", "lr_scheduler_kwargs", "lr_div_factor", "lr_groups");
        unsupported("ReLoRA", "relora", "relora_steps");
        unsupported("test_datasets", "test_datasets");
        unsupported("multi-token and sequence-classification heads", "mtp", "multipack_real_batches");
    }

    private ConfigKeys() {}

    /** How {@code key} is treated, or null when unknown. */
    public static Key lookup(String key) {
        return KEYS.get(key);
    }

    /** Every known top-level key. */
    public static Set<String> all() {
        return Collections.unmodifiableSet(KEYS.keySet());
    }

    /** Keys allowed in one entry of {@code datasets}. */
    public static final Set<String> DATASET_KEYS = Set.of("path", "type", "field", "ds_type", "data_files",
            "split", "name", "revision", "train_on_split", "field_messages", "message_property_mappings", "message_field_role",
            "message_field_content", "roles", "roles_to_train", "train_on_eos", "train_on_eot", "drop_system_message",
            "field_system", "field_tools", "field_thinking", "template_thinking_key", "split_thinking",
            "message_field_training", "message_field_training_detail", "chat_template", "chat_template_jinja");

    private static final Map<String, Key> FSDP = new LinkedHashMap<>();

    private static void fsdp(String key, Kind kind, String note) {
        FSDP.put(key, new Key(kind, note));
    }

    static {
        fsdp("version", Kind.SUPPORTED, "ParallelSettings.fsdpVersion");
        fsdp("fsdp_version", Kind.SUPPORTED, "ParallelSettings.fsdpVersion");
        fsdp("reshard_after_forward", Kind.SUPPORTED, "FsdpSettings.reshardAfterForward");
        fsdp("sharding_strategy", Kind.SUPPORTED, "FsdpSettings.reshardAfterForward");
        fsdp("activation_checkpointing", Kind.SUPPORTED, "FsdpSettings.activationCheckpointing");
        fsdp("auto_wrap_policy", Kind.SUPPORTED, "FsdpSettings.transformerLayerClsToWrap");
        fsdp("transformer_layer_cls_to_wrap", Kind.SUPPORTED, "FsdpSettings.transformerLayerClsToWrap");
        fsdp("state_dict_type", Kind.SUPPORTED, "FsdpSettings.fullStateDict");
        fsdp("cpu_ram_efficient_loading", Kind.SUPPORTED, "FsdpSettings.cpuRamEfficientLoading");
        fsdp("mixed_precision_policy", Kind.SUPPORTED, "FsdpSettings.bf16Params");
        fsdp("min_num_params", Kind.UNSUPPORTED, "SIZE_BASED_WRAP (wrapping by min_num_params) is not available; use "
                + "TRANSFORMER_BASED_WRAP with transformer_layer_cls_to_wrap");
        fsdp("offload_params", Kind.NO_EFFECT, "CPU builds keep every shard in host memory already, and GPU builds "
                + "do not offload shards yet");
        fsdp("cpu_offload_pin_memory", Kind.NO_EFFECT, "pinned host memory only matters for GPU offload, which is "
                + "not available");
        fsdp("sync_module_states", Kind.NO_EFFECT, "every rank starts from rank 0's weights (broadcast at setup) "
                + "either way");
        fsdp("use_orig_params", Kind.NO_EFFECT, "an FSDP1 flat-parameter option; FSDP2 always keeps the original "
                + "parameters");
        fsdp("final_state_dict_type", Kind.NO_EFFECT, "the end of training always exports the consolidated HF "
                + "model");
        fsdp("backward_prefetch", Kind.NO_EFFECT, "FSDP2 always prefetches the next unit in backward");
        fsdp("forward_prefetch", Kind.NO_EFFECT, "FSDP2 always prefetches the next unit in forward");
        fsdp("limit_all_gathers", Kind.NO_EFFECT, "at most the running unit and the prefetched one are gathered at "
                + "once anyway");
    }

    /** Keys allowed in {@code fsdp_config}, in their FSDP2 spelling (the FSDP1 spelling adds {@code fsdp_}). */
    public static final Set<String> FSDP_KEYS = Collections.unmodifiableSet(FSDP.keySet());

    /** How an {@code fsdp_config} key (FSDP2 spelling) is treated, or null when unknown. */
    public static Key fsdpKey(String key) {
        return FSDP.get(key);
    }
}
