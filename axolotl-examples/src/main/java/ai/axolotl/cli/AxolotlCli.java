package ai.axolotl.cli;

import ai.axolotl.config.ConfigError;
import ai.axolotl.config.ConfigException;
import ai.axolotl.data.DataException;
import ai.axolotl.distributed.CollectiveException;
import ai.axolotl.runtime.Natives;
import ai.axolotl.train.TrainingException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.util.Arrays;

/**
 * The {@code axolotl} command line: {@code train}, {@code validate}, {@code evaluate}, {@code bench}.
 * Bad input prints one line per problem naming the key or file and exits with status 2; a stack trace only with
 * {@code --debug}.
 */
@Command(name = "axolotl", mixinStandardHelpOptions = true, version = "axolotl-java 0.1.0",
        description = "Train Llama models on the JVM from Axolotl-style YAML.",
        subcommands = {TrainCommand.class, ValidateCommand.class, PreprocessCommand.class, EvaluateCommand.class, BenchCommand.class,
            ZeroToFp32Command.class, MergeShardedFsdpWeightsCommand.class, MigrateConfigCommand.class,
            MergeLoraCommand.class})
public final class AxolotlCli implements Runnable {
    /** Exit status for bad input (config, data, files). */
    public static final int EXIT_BAD_INPUT = 2;
    /** Exit status for a failed run. */
    public static final int EXIT_FAILURE = 1;

    @Option(names = "--debug", description = "print stack traces", scope = CommandLine.ScopeType.INHERIT)
    boolean debug;

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    private static volatile boolean standalone;

    /** Entry point of the jar. */
    public static void main(String[] args) {
        Natives.useCachePerLibtorchVersion();
        standalone = true;
        System.exit(execute(args, System.err));
    }

    /**
     * A rank of a distributed run failed in a collective: print why and, when this JVM is the CLI process, exit
     * at once (native process-group threads of dead peers must not keep the process alive).
     */
    static void abortRank(int rank, RuntimeException e) {
        String message = String.valueOf(e.getMessage());
        System.err.println("error: " + (message.startsWith("rank " + rank + ":") ? "" : "rank " + rank + ": ") + message);
        System.err.flush();
        System.out.flush();
        if (standalone) {
            Runtime.getRuntime().halt(EXIT_FAILURE);
        }
        throw e;
    }

    /** Runs the command line and returns the exit status (for tests and embedding). */
    public static int execute(String[] args, PrintStream err) {
        System.setProperty("org.jboss.logging.provider", "slf4j");
        // JavaCPP's own messages through slf4j (simplelogger.properties), not bare "Warning:" lines on stderr
        if (System.getProperty("org.bytedeco.javacpp.logger") == null) {
            System.setProperty("org.bytedeco.javacpp.logger", "slf4j");
        }
        boolean debug = Arrays.asList(args).contains("--debug");
        CommandLine cl = new CommandLine(new AxolotlCli());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> report(ex, err, debug));
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("error: " + ex.getMessage());
            err.println("run 'axolotl " + (ex.getCommandLine().getCommandName().equals("axolotl") ? ""
                    : ex.getCommandLine().getCommandName() + " ") + "--help' for usage");
            return EXIT_BAD_INPUT;
        });
        return cl.execute(args);
    }

    static int report(Exception ex, PrintStream err, boolean debug) {
        if (debug) {
            ex.printStackTrace(err);
        }
        if (ex instanceof ConfigException ce) {
            for (ConfigError e : ce.errors()) {
                err.println("error: " + e);
            }
            return EXIT_BAD_INPUT;
        }
        if (ex instanceof CollectiveException) {
            err.println("error: " + ex.getMessage());
            return EXIT_FAILURE;
        }
        if (ex instanceof TrainingException || ex instanceof DataException || ex instanceof IllegalArgumentException
                || ex instanceof ai.axolotl.hub.HubException) {
            err.println("error: " + ex.getMessage());
            return EXIT_BAD_INPUT;
        }
        err.println("error: " + ex.getClass().getSimpleName() + ": " + ex.getMessage()
                + (debug ? "" : " (run with --debug for the stack trace)"));
        return EXIT_FAILURE;
    }
}
