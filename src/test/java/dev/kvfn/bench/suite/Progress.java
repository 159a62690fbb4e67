package dev.kvfn.bench.suite;

import java.io.PrintStream;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One updating line on stderr: a bar over the run's planned steps, the step running now, time spent and an
 * estimate of the time left (from the average step so far). Redrawn when a step starts and once a second.
 */
final class Progress implements AutoCloseable {
    private static final int WIDTH = 30;

    private final PrintStream err;
    private final long start = System.nanoTime();
    private final ScheduledExecutorService ticker;
    private int total;
    private int done;
    private String current = "starting";
    private int lastLength;

    Progress(PrintStream err, int total) {
        this.err = err;
        this.total = Math.max(1, total);
        ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-progress");
            t.setDaemon(true);
            return t;
        });
        ticker.scheduleAtFixedRate(this::draw, 1, 1, TimeUnit.SECONDS);
    }

    /** The previous step is done; {@code what} runs now. */
    synchronized void step(String what) {
        if (!current.equals("starting")) done = Math.min(total, done + 1);
        current = what;
        draw();
    }

    /** Steps planned that will not run (an engine left out): the bar and the estimate shrink. */
    synchronized void skip(int steps) {
        total = Math.max(done + 1, total - steps);
        draw();
    }

    /** Prints a line above the bar (a warning); the bar is redrawn under it. */
    synchronized void note(String line) {
        clear();
        err.println(line);
        draw();
    }

    private synchronized void draw() {
        double elapsed = (System.nanoTime() - start) / 1e9;
        int filled = (int) Math.round(WIDTH * done / (double) total);
        String eta = done == 0 ? "?" : clock(elapsed / done * (total - done));
        String line = String.format("[%s%s] %3d%% %s elapsed, ~%s left | %s", "#".repeat(filled), ".".repeat(WIDTH - filled),
                100 * done / total, clock(elapsed), eta, current);
        if (line.length() > 150) line = line.substring(0, 150);
        err.print("\r" + line + " ".repeat(Math.max(0, lastLength - line.length())));
        err.flush();
        lastLength = line.length();
    }

    private void clear() {
        err.print("\r" + " ".repeat(lastLength) + "\r");
        lastLength = 0;
    }

    private static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format("%d:%02d", s / 60, s % 60);
    }

    @Override
    public synchronized void close() {
        ticker.shutdownNow();
        done = total;
        current = "done";
        draw();
        err.println();
    }
}
