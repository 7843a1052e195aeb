package ai.axolotl.sharding.zero;

/** Where ZeRO's partitions go inside {@code checkpoint-<step>/}. */
final class ZeroCheckpointLayout {
    /** Sub-directory of a checkpoint holding the partitions. */
    static final String DIR = "zero";

    private ZeroCheckpointLayout() {}
}
