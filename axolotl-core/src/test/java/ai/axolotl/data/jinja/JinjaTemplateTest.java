package ai.axolotl.data.jinja;

import org.junit.jupiter.api.Test;

import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * One test per feature of transformers' template environment. Expected strings are what Python Jinja2 3.1 with
 * {@code trim_blocks}, {@code lstrip_blocks} and transformers' {@code tojson} prints (written by hand from
 * Python's documented behaviour, not computed by the code under test).
 */
class JinjaTemplateTest {
    private static String render(String source, Map<String, ?> vars) {
        return JinjaTemplate.compile("t", source).render(vars);
    }

    private static String render(String source) {
        return render(source, Map.of());
    }

    @Test
    void tojsonIsPythonsJsonDumps() {
        Map<String, Object> tool = new LinkedHashMap<>();
        tool.put("name", "f");
        tool.put("default", 1.0);
        tool.put("n", 3);
        tool.put("tiny", 1e-5);
        tool.put("text", "é\"\n");
        tool.put("list", List.of());
        assertThat(render("{{ x | tojson }}", Map.of("x", tool)))
                .isEqualTo("{\"name\": \"f\", \"default\": 1.0, \"n\": 3, \"tiny\": 1e-05, \"text\": \"é\\\"\\n\", "
                        + "\"list\": []}");
        assertThat(render("{{ x | tojson(indent=2) }}", Map.of("x", Map.of("a", List.of(1, 2)))))
                .isEqualTo("{\n  \"a\": [\n    1,\n    2\n  ]\n}");
        assertThat(render("{{ x | tojson(separators=(',', ':')) }}", Map.of("x", List.of(1, "a"))))
                .isEqualTo("[1,\"a\"]");
        assertThat(render("{{ x | tojson(ensure_ascii=true) }}", Map.of("x", "é"))).isEqualTo("\"\\u00e9\"");
        assertThat(render("{{ x | tojson }}", Map.of("x", "</script>&'"))).as("no HTML escaping")
                .isEqualTo("\"</script>&'\"");
    }

    @Test
    void raiseExceptionStopsTheRenderWithTheTemplatesMessage() {
        assertThatThrownBy(() -> render("a{{ raise_exception('roles must alternate') }}"))
                .isInstanceOf(TemplateException.class).hasMessage("roles must alternate")
                .matches(e -> ((TemplateException) e).raisedByTemplate());
    }

    @Test
    void strftimeNowUsesTheClock() {
        JinjaTemplate t = JinjaTemplate.compile("t", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %-d') }}")
                .withClock(() -> LocalDateTime.of(2026, 7, 4, 9, 5));
        assertThatThrownBy(() -> t.render(Map.of())).hasMessageContaining("%-");
        assertThat(JinjaTemplate.compile("t", "{{ strftime_now('%d %b %Y %H:%M') }}")
                .withClock(() -> LocalDateTime.of(2026, 7, 4, 9, 5)).render(Map.of())).isEqualTo("04 Jul 2026 09:05");
    }

    @Test
    void theGenerationTagRendersItsBody() {
        assertThat(render("{% generation %}hi {{ x }}{% endgeneration %}!", Map.of("x", 1))).isEqualTo("hi 1!");
    }

    @Test
    void namespacesCarryValuesOutOfLoops() {
        String src = "{% set ns = namespace(last=-1, n=xs|length - 1) %}{% set plain = 0 %}"
                + "{% for x in xs %}{% set plain = x %}{% if x > 1 %}{% set ns.last = loop.index0 %}{% endif %}"
                + "{% endfor %}{{ ns.last }} {{ ns.n }} {{ plain }}";
        assertThat(render(src, Map.of("xs", List.of(1, 2, 3, 0)))).isEqualTo("2 3 0");
    }

    @Test
    void loopControlsFiltersAndLoopAttributes() {
        assertThat(render("{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}"
                + "{% endif %}{{ x }}{% endfor %}", Map.of("xs", List.of(1, 2, 3, 4, 5)))).isEqualTo("13");
        assertThat(render("{% for x in xs if x != 'b' %}{{ loop.index }}{{ x }}{{ ',' if not loop.last }}"
                + "{% endfor %}", Map.of("xs", List.of("a", "b", "c")))).as("loop.last counts filtered items")
                .isEqualTo("1a,2c");
        assertThat(render("{% for x in xs %}{{ loop.previtem }}>{{ x }} {% endfor %}", Map.of("xs", List.of(1, 2))))
                .isEqualTo(">1 1>2 ");
        assertThat(render("{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}{% for x in [] %}{% else %}"
                + "empty{% endfor %}", Map.of("d", new LinkedHashMap<>(Map.of("a", 1))))).isEqualTo("a=1;empty");
    }

    @Test
    void pythonStringMethodsAsTheRealTemplatesUseThem() {
        assertThat(render("[{{ s.strip('\\n') }}][{{ s.lstrip() }}][{{ s.rstrip('\\n ') }}]",
                Map.of("s", "\n  a b \n"))).isEqualTo("[  a b ][a b \n][\n  a b]");
        assertThat(render("{{ s.split('</think>')[-1] }}|{{ s.split() }}|{{ s.startswith(('x', '<t')) }}",
                Map.of("s", "<think>r</think> c"))).isEqualTo(" c|['<think>r</think>', 'c']|True");
        assertThat(render("{{ s.upper() }} {{ s.title() }} {{ s.replace('a', 'o', 1) }} {{ s.find('b') }} "
                + "{{ s.count('a') }} {{ s | capitalize }}", Map.of("s", "a bab"))).isEqualTo(
                "A BAB A Bab o bab 2 2 A bab");
        assertThatThrownBy(() -> render("{{ c.startswith('x') }}", Map.of("c", List.of("x"))))
                .as("a list has no startswith, as in Python").hasMessageContaining("list object")
                .hasMessageContaining("startswith");
    }

    @Test
    void slicesAndIndexesFollowPython() {
        Map<String, Object> v = Map.of("m", List.of(1, 2, 3, 4), "s", "héllo");
        assertThat(render("{{ m[::-1] }} {{ m[1:] }} {{ m[:-1] }} {{ m[-1] }} {{ m[1:3] }} {{ m[::2] }} "
                + "{{ s[1:3] }} {{ s[-1] }} {{ m[10] }}|{{ m[:m|length - 2] }}", v))
                .isEqualTo("[4, 3, 2, 1] [2, 3, 4] [1, 2, 3] 4 [2, 3] [1, 3] él o |[1, 2]");
    }

    @Test
    void valuesPrintAsPythonPrintsThem() {
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("none", null);
        vars.put("d", new LinkedHashMap<>(Map.of("k", "it's")));
        assertThat(render("{{ true }} {{ none }} {{ 1.5 }} {{ 2.0 }} {{ 7 // 2 }} {{ 7 / 2 }} {{ -7 % 3 }} {{ d }} "
                + "{{ [1, 'a', none, false] }} {{ undefined_name }}|{{ 'a' ~ 1 }}", vars))
                .isEqualTo("True None 1.5 2.0 3 3.5 2 {'k': \"it's\"} [1, 'a', None, False] |a1");
    }

    @Test
    void testsAndOperators() {
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("m", Map.of("content", "x"));
        vars.put("n", null);
        assertThat(render("{{ m.content is string }} {{ m.tool_calls is defined }} {{ n is none }} "
                + "{{ 'x' in m.content }} {{ 'tool' not in m }} {{ 3 is odd }} {{ m.content if false else 'e' }} "
                + "{{ 1 < 2 < 3 }} {{ m is mapping }} {{ 'abc' is iterable }}", vars))
                .isEqualTo("True False True True True True e True True True");
        assertThat(render("{{ not add_generation_prompt is defined }}")).isEqualTo("True");
    }

    @Test
    void whitespaceControlAsTransformersConfiguresJinja() {
        assertThat(render("{% if true %}\n  a\n{% endif %}\n  {%- if true %} b {% endif -%}  \nc\n"))
                .as("trim_blocks, lstrip_blocks, '-' on both sides, one trailing newline dropped")
                .isEqualTo("  a\n b c");
        assertThat(render("x  {% if true %}y{% endif %}")).as("lstrip only at the start of a line")
                .isEqualTo("x  y");
        assertThat(render("a\n    {% for i in [1, 2] %}{{ i }}{% endfor %}\n\t{# c #}b"))
                .as("lstrip_blocks: indentation before a statement or comment tag is dropped").isEqualTo("a\n12b");
        assertThat(render("{{ 'a' }}\n{# note #}\nb")).isEqualTo("a\nb");
        assertThat(render("  {%+ if true %}y{% endif %}")).isEqualTo("  y");
        assertThat(render("{% raw %}{{ x }}{% endraw %}")).isEqualTo("{{ x }}");
    }

    @Test
    void macrosAndSetBlocks() {
        assertThat(render("{% macro f(a, b='!') %}<{{ a }}{{ b }}>{% endmacro %}{{ f(1) }}{{ f(2, b='?') }}"
                + "{% set t %}x{{ 1 + 1 }}{% endset %}{{ t }}")).isEqualTo("<1!><2?>x2");
    }

    @Test
    void filtersTheTemplatesUse() {
        Map<String, Object> user = new LinkedHashMap<>();
        user.put("role", "user");
        user.put("c", " a ");
        Map<String, Object> vars = Map.of("ms", List.of(user, Map.of("role", "assistant", "c", "b")));
        assertThat(render("{{ ms | selectattr('role', 'equalto', 'user') | list | length }} "
                + "{{ ms | map(attribute='role') | join(',') }} {{ ms[0].c | trim }} {{ x | default('d') }} "
                + "{{ ms | first | tojson }} {{ [3, 1] | sort }} {{ 'ab\\ncd' | indent(2) }}", vars))
                .isEqualTo("1 user,assistant a d {\"role\": \"user\", \"c\": \" a \"} [1, 3] ab\n  cd");
    }

    @Test
    void unsupportedConstructsAreRefusedAtCompileTimeNamingTemplateAndLine() {
        assertThatThrownBy(() -> JinjaTemplate.compile("mine", "a\n{{ x | frobnicate }}"))
                .isInstanceOf(TemplateException.class).hasMessage("mine:2: the filter 'frobnicate' is not supported");
        assertThatThrownBy(() -> JinjaTemplate.compile("mine", "{% include 'x' %}"))
                .hasMessage("mine:1: the 'include' statement is not supported");
        assertThatThrownBy(() -> JinjaTemplate.compile("mine", "{{ x is frob }}"))
                .hasMessage("mine:1: the test 'frob' is not supported");
        assertThatThrownBy(() -> JinjaTemplate.compile("mine", "{% if x %}"))
                .hasMessage("mine:1: missing elif or else or endif");
        assertThatThrownBy(() -> render("{{ m.a.b }}", Map.of("m", Map.of())))
                .hasMessage("t:1: 'dict object' has no attribute 'a'");
    }
}
