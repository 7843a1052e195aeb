package ai.axolotl.spark;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The checks made before a barrier stage is submitted, and the input files' check on each rank. */
class SparkPreconditionsTest {
    private static SparkConf conf(String master) {
        return new SparkConf(false).set("spark.master", master);
    }

    @Test
    void dynamicAllocationIsRefusedNamingTheSetting() {
        SparkConf c = conf("yarn").set("spark.dynamicAllocation.enabled", "true");
        assertThatThrownBy(() -> SparkPreconditions.check(c, 8, 2))
                .isInstanceOf(SparkTrainingException.class)
                .hasMessageStartingWith("spark.dynamicAllocation.enabled is true");
    }

    @Test
    void aMasterThatCannotRunBarrierStagesIsRefused() {
        assertThatThrownBy(() -> SparkPreconditions.check(conf("mesos://host:5050"), 8, 2))
                .hasMessageStartingWith("spark.master 'mesos://host:5050' cannot run barrier stages");
        for (String ok : List.of("local[2]", "local[*]", "local[4,3]", "local-cluster[2,1,1024]", "spark://h:7077",
                "yarn", "k8s://https://h:6443")) {
            assertThat(SparkPreconditions.barrierCapable(ok)).as(ok).isTrue();
        }
    }

    @Test
    void slotsComeFromTheMasterAndTaskCpus() {
        assertThat(SparkPreconditions.slots("local", conf("local"), 1)).isEqualTo(1);
        assertThat(SparkPreconditions.slots("local[3]", conf("local[3]"), 3)).isEqualTo(3);
        assertThat(SparkPreconditions.slots("local[4,2]", conf("local[4,2]"), 4)).isEqualTo(4);
        assertThat(SparkPreconditions.slots("local-cluster[2,3,1024]", conf("local-cluster[2,3,1024]"), 6))
                .isEqualTo(6);
        SparkConf yarn = conf("yarn").set("spark.executor.instances", "4").set("spark.executor.cores", "2");
        assertThat(SparkPreconditions.slots("yarn", yarn, 1)).isEqualTo(8);
        assertThat(SparkPreconditions.slots("spark://h:7077", conf("spark://h:7077"), 5)).isEqualTo(5);

        assertThatThrownBy(() -> SparkPreconditions.check(conf("local[4]").set("spark.task.cpus", "2"), 4, 3))
                .hasMessageContaining("2 task slot(s)").hasMessageContaining("spark.task.cpus 2")
                .hasMessageContaining("3 ranks");
        assertThatThrownBy(() -> SparkPreconditions.check(conf("local"), 1, 2)).hasMessageContaining("1 task slot");
        assertThatCode(() -> SparkPreconditions.check(conf("local[2]"), 2, 2)).doesNotThrowAnyException();
    }

    @Test
    void aRankThatSeesOtherInputFilesFailsNamingTheFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("part-00000.jsonl");
        Files.writeString(f, "{\"text\": \"a\"}\n");
        InputManifest m = new InputManifest(dir.toString(), List.of(new InputManifest.Part(0, "part-00000.jsonl", 1,
                Files.size(f), InputManifest.sha256(f))));
        assertThatCode(() -> m.verify(1)).doesNotThrowAnyException();

        Files.writeString(f, "{\"text\": \"b\"}\n");
        assertThatThrownBy(() -> m.verify(1)).hasMessageStartingWith("rank 1: input file " + f
                + " differs from what the write job wrote").hasMessageContaining("output_dir must be one filesystem");
        Files.delete(f);
        assertThatThrownBy(() -> m.verify(1)).hasMessageContaining(f + " is missing");
    }

    @Test
    void executorAddressesGiveTheirHost() {
        assertThat(RankTask.hostOf("10.0.0.5:41234")).isEqualTo("10.0.0.5");
        assertThat(RankTask.hostOf("worker-3")).isEqualTo("worker-3");
        assertThat(RankTask.hostOf("[fe80::1]:41234")).isEqualTo("fe80::1");
    }
}
