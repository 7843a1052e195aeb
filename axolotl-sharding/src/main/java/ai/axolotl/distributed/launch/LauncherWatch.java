package ai.axolotl.distributed.launch;

import java.util.Optional;

/**
 * Makes a rank JVM started by {@link LocalLauncher} leave when its launcher is gone, however it went ({@code kill
 * -9} included, where the launcher cannot pass a signal on): the rank exits as on SIGTERM, so its shutdown hook
 * stops training after the current step and writes the checkpoint, and no orphan keeps running.
 */
public final class LauncherWatch {
    /** The variable through which {@link LocalLauncher} tells its ranks its process id. */
    public static final String ENV = "AXOLOTL_LAUNCHER_PID";
    /** The exit status of a rank whose launcher is gone: SIGTERM's. */
    public static final int EXIT_STATUS = 143;

    private LauncherWatch() {}

    /**
     * When {@code launcherPid} (from {@link #ENV}) is given, exits this JVM with {@link #EXIT_STATUS} once that
     * process has ended (at once if it already has), after one line on stderr naming the rank.
     */
    public static void exitWhenGone(String launcherPid, int rank) {
        if (launcherPid == null || launcherPid.isBlank()) {
            return;
        }
        long pid = Long.parseLong(launcherPid.strip());
        Optional<ProcessHandle> launcher = ProcessHandle.of(pid);
        Runnable leave = () -> {
            System.err.println("rank " + rank + ": the launcher (process " + pid + ") is gone; stopping after the "
                    + "current step, as on SIGTERM");
            System.exit(EXIT_STATUS);
        };
        if (launcher.isEmpty() || !launcher.get().isAlive()) {
            new Thread(leave, "axolotl-launcher-gone").start();
            return;
        }
        launcher.get().onExit().thenRun(() -> new Thread(leave, "axolotl-launcher-gone").start());
    }
}
