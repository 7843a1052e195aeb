package ai.axolotl.distributed.preflight;

import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.distributed.Rendezvous;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The checklist Axolotl's users learned to run by hand, done before step 1: every rank publishes its facts
 * (config, library version, dataset fingerprint, tokenizer, view of the world) and compares them with rank 0's.
 * Any difference fails every rank with one message naming the ranks and the items (for the config, the keys).
 */
public final class Preflight {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private Preflight() {}

    /** Publishes this rank's facts, waits for everyone's, and throws if any rank differs from rank 0. */
    public static void check(Rendezvous rv, Map<String, String> facts) {
        int world = rv.world().worldSize();
        Map<String, String> mine = new LinkedHashMap<>(facts);
        mine.put("world", rv.world().numNodes() + " nodes x " + rv.world().localWorldSize() + " processes = "
                + world + " ranks");
        try {
            rv.set("preflight/" + rv.world().rank(), JSON.writeValueAsString(mine));
        } catch (Exception e) {
            throw new CollectiveException("preflight: cannot publish rank " + rv.world().rank() + "'s facts", e);
        }
        List<Map<String, String>> all = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            String s = rv.await("preflight/" + r, r, "its preflight facts");
            try {
                all.add(JSON.readValue(s, new TypeReference<LinkedHashMap<String, String>>() {}));
            } catch (Exception e) {
                throw new CollectiveException("preflight: rank " + r + " published unreadable facts", e);
            }
        }
        String problems = compare(all);
        if (!problems.isEmpty()) {
            throw new CollectiveException("preflight failed on rank " + rv.world().rank() + ": " + problems);
        }
    }

    /** Differences of every rank's facts from rank 0's, in words; empty when all agree. */
    static String compare(List<Map<String, String>> all) {
        Map<String, String> ref = all.get(0);
        List<String> out = new ArrayList<>();
        for (int r = 1; r < all.size(); r++) {
            Map<String, String> f = all.get(r);
            for (String item : ref.keySet()) {
                if (!Objects.equals(ref.get(item), f.get(item))) {
                    if (item.equals("config")) {
                        out.add("rank " + r + " has a different config from rank 0 (keys "
                                + differingKeys(ref.get(item), f.get(item)) + ")");
                    } else {
                        out.add("rank " + r + " has " + item + " '" + f.get(item) + "' but rank 0 has '"
                                + ref.get(item) + "'");
                    }
                }
            }
        }
        return String.join("; ", out);
    }

    static List<String> differingKeys(String yamlA, String yamlB) {
        Map<String, Object> a = flatten(yamlA);
        Map<String, Object> b = flatten(yamlB);
        List<String> keys = new ArrayList<>();
        TreeMap<String, Object> union = new TreeMap<>(a);
        union.putAll(b);
        for (String k : union.keySet()) {
            if (!Objects.equals(a.get(k), b.get(k))) {
                keys.add(k);
            }
        }
        return keys;
    }

    private static Map<String, Object> flatten(String yaml) {
        Map<String, Object> out = new TreeMap<>();
        try {
            Map<String, Object> m = YAML.readValue(yaml, new TypeReference<LinkedHashMap<String, Object>>() {});
            flattenInto("", m, out);
        } catch (Exception e) {
            out.put("<unreadable>", yaml);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static void flattenInto(String prefix, Map<String, Object> m, Map<String, Object> out) {
        for (Map.Entry<String, Object> e : m.entrySet()) {
            boolean section = prefix.isEmpty() && e.getValue() instanceof Map;
            if (section) {
                // the resolved config's sections are dropped, so keys read as in the YAML file
                for (Map.Entry<String, Object> inner : ((Map<String, Object>) e.getValue()).entrySet()) {
                    put(inner.getKey(), inner.getValue(), out);
                }
            } else {
                put(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue(), out);
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static void put(String key, Object value, Map<String, Object> out) {
        if (value instanceof Map<?, ?> sub) {
            for (Map.Entry<String, Object> e : ((Map<String, Object>) sub).entrySet()) {
                put(key + "." + e.getKey(), e.getValue(), out);
            }
        } else {
            out.put(key, value);
        }
    }
}
