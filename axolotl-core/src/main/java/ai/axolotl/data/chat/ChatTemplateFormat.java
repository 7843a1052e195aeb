package ai.axolotl.data.chat;

import ai.axolotl.config.ChatDataset;
import ai.axolotl.config.ChatSettings;
import ai.axolotl.data.DataException;
import ai.axolotl.data.Example;
import ai.axolotl.data.PromptFormat;
import ai.axolotl.data.Tokenizer;
import ai.axolotl.data.jinja.JinjaTemplate;
import ai.axolotl.data.jinja.TemplateException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code type: chat_template}: a row's turns rendered through the chat template and tokenized once without added
 * special tokens (the template writes them), with Axolotl's label mask: the content tokens of trained turns
 * ({@code roles_to_train}, a turn's {@code training} field, or {@code train_on_inputs}), never role headers, and
 * the EOS / end-of-turn token after each per {@code train_on_eos} / {@code train_on_eot}.
 *
 * <p>A turn's span is found the way Axolotl finds it, by rendering with the turn's content replaced by a dummy
 * and diffing the token ids, with one difference: both renders are of the whole conversation. Axolotl diffs a
 * render of the conversation up to the turn against one up to the turn's dummy, which is wrong for templates
 * that render earlier turns differently once later ones exist (Qwen3 drops the reasoning of assistant turns
 * before the last user query), so its spans there are shifted off the content. Diffing whole renders labels
 * exactly the tokens of the final render that the turn's content produced (with Qwen3, the reasoning in the
 * {@code <think>} block of turns that show it, and tool calls, belong to the turn).
 *
 * <p>Rows longer than {@code sequence_len} and rows with no trained token are dropped, as Axolotl does.
 */
public final class ChatTemplateFormat implements PromptFormat {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ChatTemplateFormat.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String DUMMY = "[[dummy_message]]";
    private static final Pattern THINK = Pattern.compile(
            "(?s)^\\s*(?:<think>|<reasoning>|<\\|begin_of_thought\\|>)(.*?)(?:</think>|</reasoning>|<\\|end_of_thought\\|>)\\s*");

    private final ChatDataset options;
    private final ChatTemplates.Named named;
    private final JinjaTemplate template;
    private final Map<String, Object> kwargs;
    private final boolean trainOnInputs;
    private final Set<Integer> eotIds;
    private final Map<String, String> roleOf = new LinkedHashMap<>();

    /**
     * @param options the dataset's keys
     * @param named the template this dataset renders with
     * @param chat the top-level chat keys ({@code eot_tokens}, {@code chat_template_kwargs})
     * @param trainOnInputs {@code train_on_inputs}: every turn is trained
     * @param tokenizer the run's tokenizer (to check {@code eot_tokens})
     */
    public ChatTemplateFormat(ChatDataset options, ChatTemplates.Named named, ChatSettings chat,
            boolean trainOnInputs, Tokenizer tokenizer) {
        this.options = options;
        this.named = named;
        try {
            this.template = JinjaTemplate.compile(named.name(), named.source());
        } catch (TemplateException e) {
            throw new DataException("chat template: " + e.getMessage(), e);
        }
        this.kwargs = chat.chatTemplateKwargs();
        this.trainOnInputs = trainOnInputs;
        options.roles().forEach((target, sources) -> sources.forEach(s -> roleOf.put(s, target)));
        List<String> eot = chat.eotTokens() != null ? chat.eotTokens()
                : List.of(tokenizer.specialTokens().getOrDefault("eos_token", ""));
        this.eotIds = new HashSet<>();
        for (String t : eot) {
            int id = tokenizer.idOf(t);
            if (chat.eotTokens() != null && !named.source().contains(t)) {
                LOG.warn("eot_tokens: '{}' does not appear in {}; it is not used", t, named.name());
                continue;
            }
            if (chat.eotTokens() != null && id < 0) {
                throw new DataException("eot_tokens: '" + t + "' is not one token of the tokenizer (adding tokens "
                        + "is not supported; name a token the vocabulary has)");
            }
            if (id >= 0) {
                eotIds.add(id);
            }
        }
        if (eotIds.contains(tokenizer.eosId()) && !options.trainOnEos().equals(options.trainOnEot())) {
            throw new DataException("train_on_eos ('" + options.trainOnEos() + "') and train_on_eot ('"
                    + options.trainOnEot() + "') differ, but the EOS token is one of the eot_tokens");
        }
    }

    /** One turn, template-ready, whether it is trained (null: by role), and its character spans (or null). */
    private record Turn(Map<String, Object> message, Boolean training, TrainingDetail detail) {
        String role() {
            return String.valueOf(message.get("role"));
        }
    }

    @Override
    public List<Example> tokenize(JsonNode row, String where, Tokenizer tokenizer, int sequenceLen) {
        List<Turn> turns = turns(row, where);
        Object tools = field(row, options.fieldTools(), where, true);
        List<Map<String, Object>> messages = new ArrayList<>();
        turns.forEach(t -> messages.add(t.message()));
        int[] ids = tokenizer.encode(render(messages, tools, tokenizer, where), false);
        if (ids.length > sequenceLen) {
            return List.of();
        }
        int[] labels = new int[ids.length];
        Arrays.fill(labels, -100);
        int eos = tokenizer.eosId();
        int lastEos = -1;
        int lastEot = -1;
        boolean any = false;
        for (int i = 0; i < turns.size(); i++) {
            Turn turn = turns.get(i);
            boolean train = turn.training() != null ? turn.training()
                    : turn.detail() != null ? !turn.detail().spans().isEmpty()
                    : trainOnInputs || options.rolesToTrain().contains(turn.role());
            if (!train && !options.trainOnEos().equals("all") && !options.trainOnEot().equals("all")) {
                continue;
            }
            int[] span = span(messages, i, ids, tools, tokenizer, where);
            if (span == null) {
                continue;
            }
            if (train && turn.detail() != null) {
                any |= labelDetail(turn, span, ids, labels, tokenizer, where + " turn " + i);
            } else if (train) {
                for (int k = span[0]; k < span[1]; k++) {
                    labels[k] = ids[k];
                    any = true;
                }
            }
            int eosAt = find(ids, span[1], Set.of(eos));
            if (eosAt >= 0 && trains(options.trainOnEos(), train)) {
                labels[eosAt] = ids[eosAt];
                any = true;
            }
            int eotAt = find(ids, span[1], eotIds);
            if (eotAt >= 0 && trains(options.trainOnEot(), train)) {
                labels[eotAt] = ids[eotAt];
                any = true;
            }
            lastEos = eosAt >= 0 ? eosAt : lastEos;
            lastEot = eotAt >= 0 ? eotAt : lastEot;
        }
        if (options.trainOnEos().equals("last") && lastEos >= 0) {
            labels[lastEos] = ids[lastEos];
            any = true;
        }
        if (options.trainOnEot().equals("last") && lastEot >= 0) {
            labels[lastEot] = ids[lastEot];
            any = true;
        }
        return any ? List.of(new Example(ids, labels)) : List.of();
    }

    /**
     * Labels the tokens of a turn's content that its training detail trains. The content is tokenized on its own
     * (as Axolotl does) and must be exactly the tokens the render has at the turn's span; where the template
     * changes the content (trims it, say) or tokens merge across its edges the spans cannot be placed, and the
     * row is refused rather than labelled off by some tokens.
     */
    private static boolean labelDetail(Turn turn, int[] span, int[] ids, int[] labels, Tokenizer tokenizer,
            String where) {
        if (!(turn.message().get("content") instanceof String content)) {
            throw new DataException(where + ": a training detail needs the content to be a string");
        }
        int[] own = tokenizer.encode(content);
        if (span[1] - span[0] != own.length
                || !Arrays.equals(Arrays.copyOfRange(ids, span[0], span[1]), own)) {
            throw new DataException(where + ": its training detail cannot be placed: the rendered turn's "
                    + (span[1] - span[0]) + " tokens are not the content's own " + own.length + " (the template "
                    + "changes the content, e.g. trims it, or tokens merge across its edges)");
        }
        boolean[] trained = turn.detail().trainedTokens(tokenizer.charSpans(content),
                content.codePointCount(0, content.length()));
        boolean any = false;
        for (int k = 0; k < trained.length; k++) {
            if (trained[k]) {
                labels[span[0] + k] = ids[span[0] + k];
                any = true;
            }
        }
        return any;
    }

    private static boolean trains(String option, boolean turnTrains) {
        return option.equals("all") || (option.equals("turn") && turnTrains);
    }

    /** The first token of {@code wanted} at or after {@code end}, accepted within 3 tokens, else -1. */
    private static int find(int[] ids, int end, Set<Integer> wanted) {
        for (int k = Math.max(0, end); k < ids.length && k - end <= 3; k++) {
            if (wanted.contains(ids[k])) {
                return k;
            }
        }
        return -1;
    }

    /**
     * The token span turn {@code i}'s content occupies in the whole render: the first and last differing ids
     * between the real render and the render with that turn's content replaced by a dummy. Null when the renders
     * do not differ.
     */
    private int[] span(List<Map<String, Object>> messages, int i, int[] ids, Object tools, Tokenizer tokenizer,
            String where) {
        List<Map<String, Object>> dummy = new ArrayList<>(messages);
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("role", messages.get(i).get("role"));
        d.put("content", DUMMY);
        dummy.set(i, d);
        int[] other = tokenizer.encode(render(dummy, tools, tokenizer, where), false);
        int start = 0;
        while (start < ids.length && start < other.length && ids[start] == other[start]) {
            start++;
        }
        if (start == ids.length && start == other.length) {
            return null;
        }
        int a = ids.length - 1;
        int b = other.length - 1;
        while (a >= start && b >= start && ids[a] == other[b]) {
            a--;
            b--;
        }
        return new int[] {start, Math.max(start, a + 1)};
    }

    private String render(List<Map<String, Object>> messages, Object tools, Tokenizer tokenizer, String where) {
        Map<String, Object> vars = new LinkedHashMap<>(kwargs);
        vars.putAll(tokenizer.specialTokens());
        vars.put("messages", messages);
        vars.put("tools", tools);
        vars.put("documents", null);
        vars.put("add_generation_prompt", false);
        try {
            return template.render(vars);
        } catch (TemplateException e) {
            throw new DataException(where + ": " + named.name() + (e.raisedByTemplate() ? " raised: " : ": ")
                    + e.getMessage(), e);
        }
    }

    private List<Turn> turns(JsonNode row, String where) {
        Object raw = field(row, options.fieldMessages(), where, true);
        if (!(raw instanceof List<?> list)) {
            throw new DataException(where + ": expected a list of turns in field '" + options.fieldMessages()
                    + "' (type: chat_template; set field_messages to name another field)");
        }
        List<Turn> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof Map<?, ?> m)) {
                throw new DataException(where + ": turn " + i + " of '" + options.fieldMessages()
                        + "' is not an object");
            }
            out.add(turn(m, where + " turn " + i));
        }
        if (options.dropSystemMessage() && !out.isEmpty() && out.get(0).role().equals("system")) {
            out.remove(0);
        }
        Object system = row.has(options.fieldSystem()) ? field(row, options.fieldSystem(), where, false) : null;
        if (system instanceof String s && (out.isEmpty() || !out.get(0).role().equals("system"))
                && !options.dropSystemMessage()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("role", "system");
            m.put("content", s);
            out.add(0, new Turn(m, null, null));
        }
        if (out.isEmpty()) {
            throw new DataException(where + ": the conversation in '" + options.fieldMessages() + "' is empty");
        }
        return out;
    }

    private Turn turn(Map<?, ?> source, String where) {
        Map<String, Object> m = new LinkedHashMap<>();
        Set<String> mappedFrom = new HashSet<>();
        for (Map.Entry<String, String> e : options.messagePropertyMappings().entrySet()) {
            mappedFrom.add(e.getValue());
            if (source.containsKey(e.getValue())) {
                m.put(e.getKey(), source.get(e.getValue()));
            }
        }
        if (!m.containsKey("role")) {
            throw new DataException(where + ": no role (field '" + options.messagePropertyMappings().get("role")
                    + "'; set message_property_mappings.role)");
        }
        TrainingDetail detail = TrainingDetail.parse(source.get(options.messageFieldTrainingDetail()), where);
        Boolean training = null;
        Object t = source.get(options.messageFieldTraining());
        if (t instanceof Boolean b) {
            training = b;
        }
        for (Map.Entry<?, ?> e : source.entrySet()) {
            String k = String.valueOf(e.getKey());
            if (!mappedFrom.contains(k) && !k.equals(options.messageFieldTraining())
                    && !k.equals(options.messageFieldTrainingDetail()) && !m.containsKey(k)) {
                m.put(k, e.getValue());
            }
        }
        String role = String.valueOf(m.get("role"));
        m.put("role", roleOf.getOrDefault(role, role));
        Object content = m.get("content");
        if (content instanceof List<?> parts) {
            StringBuilder b = new StringBuilder();
            for (Object p : parts) {
                if (p instanceof Map<?, ?> pm) {
                    if (pm.containsKey("train") || pm.containsKey("weight")) {
                        throw new DataException(where + ": unsupported feature: per-part training flags in content");
                    }
                    for (String k : List.of("text", "content", "value")) {
                        if (pm.get(k) instanceof String s) {
                            b.append(s);
                            break;
                        }
                    }
                } else if (p instanceof String s) {
                    b.append(s);
                }
            }
            m.put("content", b.toString());
        }
        if (!options.fieldThinking().equals(options.templateThinkingKey()) && m.containsKey(options.fieldThinking())) {
            m.put(options.templateThinkingKey(), m.remove(options.fieldThinking()));
        }
        if (options.splitThinking() && m.get("content") instanceof String s) {
            Matcher th = THINK.matcher(s);
            if (th.find()) {
                m.put(options.templateThinkingKey(), th.group(1).strip());
                m.put("content", s.substring(th.end()));
            }
        }
        if (m.get("tool_calls") instanceof List<?> calls) {
            List<Object> parsed = new ArrayList<>();
            for (Object c : calls) {
                if (c instanceof Map<?, ?> cm && cm.get("function") instanceof Map<?, ?> fn
                        && fn.get("arguments") instanceof String args) {
                    Map<Object, Object> f = new LinkedHashMap<>(fn);
                    f.put("arguments", parseJson(args, where + " tool_calls arguments"));
                    Map<Object, Object> copy = new LinkedHashMap<>(cm);
                    copy.put("function", f);
                    parsed.add(copy);
                } else {
                    parsed.add(c);
                }
            }
            m.put("tool_calls", parsed);
        }
        return new Turn(m, training, detail);
    }

    /** A row field as a template value; with {@code json}, a string holding a JSON list or object is parsed. */
    private static Object field(JsonNode row, String name, String where, boolean json) {
        JsonNode v = row.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            String s = v.asText().strip();
            if (json && (s.startsWith("[") || s.startsWith("{"))) {
                return parseJson(s, where + " field '" + name + "'");
            }
            return v.asText();
        }
        return JSON.convertValue(v, Object.class);
    }

    private static Object parseJson(String s, String where) {
        try {
            return JSON.readValue(s, Object.class);
        } catch (JsonProcessingException e) {
            throw new DataException(where + ": not valid JSON: " + e.getOriginalMessage());
        }
    }
}
