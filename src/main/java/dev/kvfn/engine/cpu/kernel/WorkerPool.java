package dev.kvfn.engine.cpu.kernel;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of long-lived worker threads, one per core, that split index ranges.
 * The calling thread takes the first share itself, so a pool of N threads starts N-1 workers.
 * Handing out work costs a volatile write (plus an unpark only for a worker that went to sleep),
 * not a task submission (a thread-pool submit per matrix costs ~55 µs, several ms per token).
 * Waiting threads spin for a short while, because the next matrix usually follows within
 * microseconds, then park, so an idle server does not burn CPU.
 *
 * <p>One {@code forRange} runs at a time: a call that arrives while another is in flight (another
 * request thread, or a task that itself calls {@code forRange}) runs its whole range on the
 * calling thread instead of waiting.
 */
public final class WorkerPool implements AutoCloseable {

    /** Work over {@code [from, to)}; must not allocate in hot paths. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    /** About 20-50 µs of spinning: longer than the gap between two matrices, far shorter than between tokens. */
    private static final int SPINS_BEFORE_PARK = 1 << 15;

    private final int threads;
    private final Thread[] workers;
    private final AtomicBoolean busy = new AtomicBoolean();
    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final AtomicIntegerArray sleeping; // 1 while worker i may be parked
    private final java.util.concurrent.atomic.AtomicLong wakeups = new java.util.concurrent.atomic.AtomicLong(); // returns from park (tests)
    private volatile RangeTask task;
    private volatile int n;
    private volatile long generation;
    private volatile Thread caller;
    private volatile boolean callerSleeping;
    private volatile boolean closed;

    public WorkerPool(int threads) {
        this(threads, 0);
    }

    /** @param computeNice the workers' Linux nice value (0: unchanged; see {@link ComputePriority}) */
    public WorkerPool(int threads, int computeNice) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (computeNice < 0 || computeNice > 19) throw new IllegalArgumentException("compute nice must be in 0..19, got " + computeNice);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.sleeping = new AtomicIntegerArray(threads - 1);
        for (int i = 0; i < workers.length; i++) {
            final int share = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name("kvfn-worker-" + share).unstarted(() -> {
                try {
                    ComputePriority.lowerCurrentThread(computeNice);
                } catch (Throwable t) {
                    // A priority is a preference: a worker that dies here would leave every forRange waiting forever.
                    System.getLogger(WorkerPool.class.getName()).log(System.Logger.Level.WARNING,
                            "kvfn-worker-" + share + ": compute priority not applied: " + t);
                }
                loop(share);
            });
            workers[i].start();
        }
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code task} over {@code [0, n)} split into contiguous shares, one per thread; returns when
     * all are done. If a share throws, the first failure is rethrown here after every share finished.
     */
    public void forRange(int n, RangeTask task) {
        if (n < 0) throw new IllegalArgumentException("range size must be >= 0, got " + n);
        if (closed) throw new IllegalStateException("worker pool is closed");
        if (threads == 1 || n <= 1 || !busy.compareAndSet(false, true)) {
            task.run(0, n);
            return;
        }
        try {
            this.task = task;
            this.n = n;
            this.caller = Thread.currentThread();
            pending.set(workers.length);
            generation++; // single writer: guarded by busy
            for (int i = 0; i < workers.length; i++) {
                if (sleeping.get(i) != 0) LockSupport.unpark(workers[i]);
            }
            try {
                runShare(0, task, n);
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
            awaitWorkers();
            this.task = null;
            Throwable t = failure.getAndSet(null);
            if (t != null) rethrow(t);
        } finally {
            busy.set(false);
        }
    }

    /**
     * Wakes parked workers ahead of a {@code forRange} the caller is about to make after some work of
     * its own, so the OS wake-up (tens to hundreds of µs on a VM) overlaps that work instead of delaying
     * the first share.
     */
    public void wake() {
        for (int i = 0; i < workers.length; i++) {
            if (sleeping.get(i) != 0) LockSupport.unpark(workers[i]);
        }
    }

    private void awaitWorkers() {
        int spins = 0;
        while (pending.get() != 0) {
            if (++spins < SPINS_BEFORE_PARK) {
                Thread.onSpinWait();
            } else {
                callerSleeping = true;
                if (pending.get() != 0) LockSupport.parkNanos(this, 1_000_000);
                callerSleeping = false;
            }
        }
    }

    private static void rethrow(Throwable t) {
        if (t instanceof RuntimeException e) throw e;
        if (t instanceof Error e) throw e;
        throw new IllegalStateException("worker task failed", t);
    }

    private void runShare(int share, RangeTask t, int count) {
        int from = (int) ((long) count * share / threads);
        int to = (int) ((long) count * (share + 1) / threads);
        if (from < to) t.run(from, to);
    }

    private void loop(int share) {
        int index = share - 1;
        long seen = 0;
        while (true) {
            int spins = 0;
            while (generation == seen && !closed) {
                if (++spins < SPINS_BEFORE_PARK) {
                    Thread.onSpinWait();
                } else {
                    // Publish "asleep" before the re-check so a caller that bumps generation meanwhile unparks us.
                    sleeping.set(index, 1);
                    if (generation == seen && !closed) LockSupport.park(this);
                    sleeping.set(index, 0);
                    wakeups.incrementAndGet();
                    spins = 0; // woken: spin again first, the call that woke us is about to come
                }
            }
            if (closed) return;
            seen = generation;
            try {
                runShare(share, task, n);
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            } finally {
                if (pending.decrementAndGet() == 0 && callerSleeping) LockSupport.unpark(caller);
            }
        }
    }

    /** Stops the workers and waits (briefly) for them to exit; later {@code forRange} calls fail. */
    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
        for (Thread w : workers) {
            try {
                w.join(1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** How many times a worker came back from parking (tests). */
    long wakeups() {
        return wakeups.get();
    }

    /** How many workers are parked now (tests). */
    int parked() {
        int n = 0;
        for (int i = 0; i < workers.length; i++) n += sleeping.get(i);
        return n;
    }

    /** Whether every worker thread has exited (after {@link #close()}). */
    boolean stopped() {
        for (Thread w : workers) if (w.isAlive()) return false;
        return true;
    }
}
