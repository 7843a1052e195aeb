package ai.axolotl.train;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a checkpoint records besides weights and optimizer state: how far the run got. Data order is a pure
 * function of {@code seed} and the step, and training draws no random numbers after initialisation (no
 * dropout), so the step is the whole data position and RNG state.
 *
 * @param globalStep optimizer steps completed
 * @param epoch fractional epoch reached
 * @param totalSteps steps the run was planned for
 * @param seed the run's seed
 * @param datasetFingerprint fingerprint of the tokenized dataset (a resume with other data is refused)
 * @param worldSize ranks that wrote the checkpoint
 * @param strategy the strategy that wrote it
 * @param losses loss of every step so far
 * @param mesh the device mesh's axes and sizes ({@code dp_replicate}, {@code dp_shard}, {@code cp}, {@code tp})
 * @param provenance library version and commit, libtorch bindings, Java, OS ({@code Provenance})
 * @param config the resolved configuration (YAML) the run trained with
 * @param lossScaler the fp16 loss scaler's state; null when the run does not scale its loss
 */
public record TrainerState(
        @JsonProperty("global_step") int globalStep,
        @JsonProperty("epoch") double epoch,
        @JsonProperty("total_steps") int totalSteps,
        @JsonProperty("seed") long seed,
        @JsonProperty("dataset_fingerprint") String datasetFingerprint,
        @JsonProperty("world_size") int worldSize,
        @JsonProperty("strategy") String strategy,
        @JsonProperty("losses") List<Double> losses,
        @JsonProperty("mesh") Map<String, Integer> mesh,
        @JsonProperty("provenance") Map<String, Object> provenance,
        @JsonProperty("config") String config,
        @JsonProperty("loss_scaler") @JsonInclude(JsonInclude.Include.NON_NULL) LossScaler.State lossScaler) {

    /** File name inside a checkpoint. */
    public static final String FILE = "trainer_state.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Writes the state into a checkpoint directory. */
    public void write(Path dir) throws IOException {
        JSON.writeValue(dir.resolve(FILE).toFile(), this);
    }

    /** Reads the state of a checkpoint directory. */
    public static TrainerState read(Path dir) throws IOException {
        return JSON.readValue(dir.resolve(FILE).toFile(), TrainerState.class);
    }
}
