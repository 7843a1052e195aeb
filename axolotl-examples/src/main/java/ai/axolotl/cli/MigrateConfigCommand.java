package ai.axolotl.cli;

import ai.axolotl.config.ConfigLoader;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code axolotl migrate-config IN.yml [-o OUT.yml]}: rewrites an FSDP1 config as FSDP2 with the migration table
 * of Axolotl's docs ({@code fsdp_sharding_strategy} to {@code reshard_after_forward}, the {@code fsdp_} prefix
 * dropped, keys FSDP2 removed dropped with a note). Comments are not kept.
 */
@Command(name = "migrate-config", mixinStandardHelpOptions = true,
        description = "Rewrite an FSDP1 config (fsdp: [...], fsdp_config.fsdp_* keys) as FSDP2.")
final class MigrateConfigCommand implements Callable<Integer> {
    static final Set<String> REMOVED = Set.of("backward_prefetch", "forward_prefetch", "limit_all_gathers",
            "use_orig_params", "sync_module_states", "sharding_strategy");

    @Parameters(index = "0", paramLabel = "IN.yml")
    Path in;

    @Option(names = {"-o", "--output"}, paramLabel = "OUT.yml", description = "default: print to standard output")
    Path out;

    @Override
    @SuppressWarnings("unchecked")
    public Integer call() throws Exception {
        Map<String, Object> raw = ConfigLoader.readYaml(in);
        Map<String, Object> fc = raw.get("fsdp_config") instanceof Map<?, ?> m
                ? (Map<String, Object>) m : new LinkedHashMap<>();
        Map<String, Object> migrated = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : fc.entrySet()) {
            String k = e.getKey().startsWith("fsdp_") && !e.getKey().equals("fsdp_version")
                    ? e.getKey().substring(5) : e.getKey();
            if (k.equals("sharding_strategy")) {
                String s = String.valueOf(e.getValue());
                boolean reshard = !(s.equals("SHARD_GRAD_OP") || s.equals("2"));
                migrated.putIfAbsent("reshard_after_forward", reshard);
                System.err.println("note: fsdp_sharding_strategy " + s + " -> reshard_after_forward: " + reshard
                        + (s.contains("HYBRID") ? " (set dp_replicate_size for HSDP)" : ""));
                continue;
            }
            if (REMOVED.contains(k) || k.equals("version") || k.equals("fsdp_version")) {
                if (REMOVED.contains(k)) {
                    System.err.println("note: dropped " + e.getKey() + " (removed in FSDP2)");
                }
                continue;
            }
            migrated.put(k, e.getValue());
        }
        Object list = raw.remove("fsdp");
        if (list != null) {
            System.err.println("note: dropped the FSDP1 list fsdp: " + list);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : raw.entrySet()) {
            if (e.getKey().equals("fsdp_config")) {
                result.put("fsdp_version", 2);
                result.put("fsdp_config", migrated);
            } else if (!e.getKey().equals("fsdp_version")) {
                result.put(e.getKey(), e.getValue());
            }
        }
        if (!result.containsKey("fsdp_config") && list != null) {
            result.put("fsdp_version", 2);
            result.put("fsdp_config", migrated);
        }
        String yaml = new ObjectMapper(new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)).writeValueAsString(result);
        if (out == null) {
            System.out.print(yaml);
        } else {
            Files.writeString(out, yaml);
            System.err.println("ok: wrote " + out);
        }
        return 0;
    }
}
