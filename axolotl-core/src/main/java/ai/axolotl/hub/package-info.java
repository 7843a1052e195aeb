/**
 * Models and datasets by Hugging Face Hub id, resolved as {@code huggingface_hub} resolves them: from the local
 * Hugging Face cache first ({@code HF_HUB_CACHE}, {@code HF_HOME}; the {@code models--org--name} layout with
 * {@code blobs/}, {@code refs/} and {@code snapshots/<commit>/}, so files Python tools downloaded are reused),
 * else downloaded from {@code HF_ENDPOINT} with {@code HF_TOKEN}, resumable, verified against the size and hash
 * the Hub reports, and written into the same layout atomically. {@code HF_HUB_OFFLINE=1} never touches the
 * network. Entry points: {@link ai.axolotl.hub.HubResolver} (a config's references) over
 * {@link ai.axolotl.hub.HubClient}.
 */
package ai.axolotl.hub;
