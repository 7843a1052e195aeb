/**
 * Chat data: which template a dataset renders with ({@link ai.axolotl.data.chat.ChatTemplates}, Axolotl's
 * precedence) and {@code type: chat_template} rows turned into token ids and labels
 * ({@link ai.axolotl.data.chat.ChatTemplateFormat}).
 */
package ai.axolotl.data.chat;
