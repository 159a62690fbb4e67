package dev.kvfn.engine.cpu.kernel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of long-lived worker threads, one per core, that split index ranges.
 * The calling thread takes the first share itself, so a pool of N threads starts N-1 workers.
 * Handing out work costs a volatile write and an unpark, not a task submission (a thread-pool
 * submit per matrix costs ~55 µs, several ms per token).
 */
public final class WorkerPool implements AutoCloseable {

    /** Work over {@code [from, to)}; must not allocate in hot paths. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    private final int threads;
    private final Thread[] workers;
    private volatile RangeTask task;
    private volatile int n;
    private volatile long generation;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile Thread caller;
    private volatile boolean closed;

    public WorkerPool(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1");
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            final int share = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name("kvfn-worker-" + share).unstarted(() -> loop(share));
            workers[i].start();
        }
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code task} over {@code [0, n)} split into contiguous shares, one per thread; returns when all are done. */
    public void forRange(int n, RangeTask task) {
        if (threads == 1 || n <= 1) {
            task.run(0, n);
            return;
        }
        this.task = task;
        this.n = n;
        this.caller = Thread.currentThread();
        pending.set(workers.length);
        generation++;
        for (Thread w : workers) LockSupport.unpark(w);
        runShare(0, task, n);
        int spins = 0;
        while (pending.get() != 0) {
            if (++spins < 20_000) Thread.onSpinWait();
            else LockSupport.parkNanos(this, 50_000);
        }
        this.task = null;
    }

    private void runShare(int share, RangeTask t, int count) {
        int from = (int) ((long) count * share / threads);
        int to = (int) ((long) count * (share + 1) / threads);
        if (from < to) t.run(from, to);
    }

    private void loop(int share) {
        long seen = 0;
        while (!closed) {
            int spins = 0;
            while (generation == seen && !closed) {
                if (++spins < 20_000) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            if (closed) return;
            seen = generation;
            try {
                runShare(share, task, n);
            } finally {
                if (pending.decrementAndGet() == 0) LockSupport.unpark(caller);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
