package ai.axolotl.spark;

import org.apache.spark.SparkConf;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What must hold before a barrier stage is submitted. Spark's own answer to most of these is to retry the stage
 * for about ten minutes ({@code spark.scheduler.barrier.maxConcurrentTasksCheck.*}) and then fail with an error
 * that does not name the setting; this class fails at once, naming it.
 */
final class SparkPreconditions {
    private static final Pattern LOCAL = Pattern.compile("local(?:\\[(\\*|\\d+)(?:\\s*,\\s*(\\d+))?])?");
    private static final Pattern LOCAL_CLUSTER = Pattern.compile("local-cluster\\[(\\d+)\\s*,\\s*(\\d+)\\s*,.*]");

    private SparkPreconditions() {}

    /**
     * Checks the Spark settings for a barrier stage of {@code ranks} tasks.
     *
     * @param conf the session's configuration
     * @param defaultParallelism the context's default parallelism (total executor cores on a cluster master)
     * @param ranks the number of ranks (barrier tasks)
     * @throws SparkTrainingException naming the first setting that makes the stage impossible
     */
    static void check(SparkConf conf, int defaultParallelism, int ranks) {
        if (ranks < 1) {
            throw new SparkTrainingException("ranks must be at least 1, got " + ranks);
        }
        String master = conf.get("spark.master", "");
        if (conf.getBoolean("spark.dynamicAllocation.enabled", false)) {
            throw new SparkTrainingException("spark.dynamicAllocation.enabled is true: a barrier stage needs every "
                    + "rank's task running at once on executors that stay (SPARK-24942); set it to false for this "
                    + "application");
        }
        if (!barrierCapable(master)) {
            throw new SparkTrainingException("spark.master '" + master + "' cannot run barrier stages; use local[N], "
                    + "local-cluster[...], spark://, yarn or k8s://");
        }
        int taskCpus = conf.getInt("spark.task.cpus", 1);
        int slots = slots(master, conf, defaultParallelism) / Math.max(1, taskCpus);
        if (slots < ranks) {
            throw new SparkTrainingException("the cluster has " + slots + " task slot(s) (spark.master '" + master
                    + "', spark.task.cpus " + taskCpus + ") but " + ranks + " ranks need one each at the same time; "
                    + "give it more executor cores (local[" + ranks * taskCpus + "], spark.executor.cores x "
                    + "spark.executor.instances) or train with fewer ranks");
        }
    }

    /** True for the masters whose schedulers run barrier stages. */
    static boolean barrierCapable(String master) {
        String m = master.toLowerCase(Locale.ROOT);
        return LOCAL.matcher(m).matches() || LOCAL_CLUSTER.matcher(m).matches() || m.startsWith("spark://")
                || m.equals("yarn") || m.startsWith("k8s://");
    }

    /**
     * Task cores the master offers: from the master URL in local modes, else {@code spark.executor.instances x
     * spark.executor.cores} when both are set, else the context's default parallelism (the cores of the executors
     * registered so far).
     */
    static int slots(String master, SparkConf conf, int defaultParallelism) {
        Matcher local = LOCAL.matcher(master);
        if (local.matches()) {
            if (local.group(1) == null) {
                return 1;
            }
            return local.group(1).equals("*") ? Runtime.getRuntime().availableProcessors()
                    : Integer.parseInt(local.group(1));
        }
        Matcher cluster = LOCAL_CLUSTER.matcher(master);
        if (cluster.matches()) {
            return Integer.parseInt(cluster.group(1)) * Integer.parseInt(cluster.group(2));
        }
        if (conf.contains("spark.executor.instances") && conf.contains("spark.executor.cores")) {
            return conf.getInt("spark.executor.instances", 0) * conf.getInt("spark.executor.cores", 0);
        }
        return defaultParallelism;
    }
}
