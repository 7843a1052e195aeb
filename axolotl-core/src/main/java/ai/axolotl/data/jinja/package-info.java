/**
 * A Jinja interpreter for Hugging Face chat templates, with the environment transformers renders them in
 * ({@code trim_blocks}, {@code lstrip_blocks}, loop controls, {@code raise_exception}, {@code strftime_now},
 * {@code tojson} as Python's {@code json.dumps}, the {@code generation} tag) and Python's value semantics
 * (printing {@code True}/{@code None}, reprs of lists and dicts, string methods, slices). A construct it does not
 * implement is an error at compile time naming the template, the line and the construct; it never renders
 * differently in silence. Entry point: {@link ai.axolotl.data.jinja.JinjaTemplate}.
 */
package ai.axolotl.data.jinja;
