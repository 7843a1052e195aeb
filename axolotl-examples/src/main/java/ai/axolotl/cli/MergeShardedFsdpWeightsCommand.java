package ai.axolotl.cli;

import ai.axolotl.runtime.Natives;
import ai.axolotl.sharding.MeshCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code axolotl merge-sharded-fsdp-weights CHECKPOINT_DIR [--output-dir DIR]}: consolidation without a group. */
@Command(name = "merge-sharded-fsdp-weights", mixinStandardHelpOptions = true,
        description = "Write the full model of a sharded FSDP (or ZeRO) checkpoint as HF safetensors + config.json.")
final class MergeShardedFsdpWeightsCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CHECKPOINT_DIR", description = "a checkpoint-<step> of a sharded run")
    Path checkpoint;

    @Option(names = "--output-dir", paramLabel = "DIR", description = "default: CHECKPOINT_DIR/../merged")
    Path output;

    @Override
    public Integer call() throws Exception {
        Natives.load();
        Path out = output != null ? output : checkpoint.toAbsolutePath().getParent().resolve("merged");
        MeshCheckpoint.consolidate(checkpoint, out);
        System.err.println("ok: wrote " + out.resolve("model.safetensors") + " and config.json");
        return 0;
    }
}
