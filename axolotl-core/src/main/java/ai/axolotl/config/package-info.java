/**
 * Configuration: Axolotl-style YAML and the fluent builder both bind into one validated, immutable
 * {@link ai.axolotl.config.AxolotlConfig}; unknown, unsupported and invalid keys fail with messages naming them.
 */
package ai.axolotl.config;
