package ai.axolotl.cli;

import ai.axolotl.runtime.Natives;
import ai.axolotl.sharding.MeshCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code axolotl zero-to-fp32 CHECKPOINT_DIR OUTPUT_DIR}: DeepSpeed's consolidation, without a process group. */
@Command(name = "zero-to-fp32", mixinStandardHelpOptions = true,
        description = "Write the full fp32 model of a sharded ZeRO checkpoint as HF safetensors + config.json.")
final class ZeroToFp32Command implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CHECKPOINT_DIR", description = "a checkpoint-<step> of a ZeRO run")
    Path checkpoint;

    @Parameters(index = "1", paramLabel = "OUTPUT_DIR", description = "where the model is written")
    Path output;

    @Override
    public Integer call() throws Exception {
        Natives.load();
        MeshCheckpoint.consolidate(checkpoint, output);
        System.err.println("ok: wrote " + output.resolve("model.safetensors") + " and config.json");
        return 0;
    }
}
