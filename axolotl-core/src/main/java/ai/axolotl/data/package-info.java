/**
 * Data: local JSON/JSONL datasets (completion, alpaca, pre-tokenized), tokenizers (embedded bytes or a Hugging
 * Face tokenizer.json), sample packing, deterministic shuffling and the split of each global batch over ranks.
 */
package ai.axolotl.data;
