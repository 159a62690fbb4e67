package dev.kvfn.engine.cpu.kernel;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WorkerPoolTest {

    @Test
    void everyIndexRunsExactlyOnce() {
        try (WorkerPool pool = new WorkerPool(4)) {
            for (int n : new int[] {0, 1, 2, 3, 5, 67, 1000}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                pool.forRange(n, (from, to) -> {
                    for (int i = from; i < to; i++) hits.incrementAndGet(i);
                });
                for (int i = 0; i < n; i++) assertEquals(1, hits.get(i), "n=" + n + " index " + i);
            }
        }
    }

    /** Checked on the caller: a worker that died on a bad nice value would leave every forRange waiting forever. */
    @Test
    void aComputeNiceOutOfRangeIsRefusedAtConstruction() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new WorkerPool(2, 20));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("0..19"), e.getMessage());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new WorkerPool(2, -1));
        try (WorkerPool pool = new WorkerPool(2, 19)) { // the highest nice value works
            AtomicLong sum = new AtomicLong();
            pool.forRange(10, (from, to) -> { for (int i = from; i < to; i++) sum.addAndGet(i); });
            org.junit.jupiter.api.Assertions.assertEquals(45, sum.get());
        }
    }

    @Test
    void manyCallsInARowAllComplete() {
        try (WorkerPool pool = new WorkerPool(2)) {
            AtomicLong sum = new AtomicLong();
            int calls = 50_000;
            for (int k = 0; k < calls; k++) {
                pool.forRange(10, (from, to) -> {
                    long s = 0;
                    for (int i = from; i < to; i++) s += i;
                    sum.addAndGet(s);
                });
            }
            assertEquals(45L * calls, sum.get());
        }
    }

    @Test
    void callsAfterWorkersWentToSleepStillComplete() throws InterruptedException {
        try (WorkerPool pool = new WorkerPool(2)) {
            AtomicLong sum = new AtomicLong();
            for (int k = 0; k < 3; k++) {
                Thread.sleep(20); // long enough for the workers to stop spinning and park
                pool.forRange(4, (from, to) -> sum.addAndGet(to - from));
            }
            assertEquals(12, sum.get());
        }
    }

    @Test
    void wakeBringsParkedWorkersBackToSpinningUntilTheyParkAgain() throws InterruptedException {
        try (WorkerPool pool = new WorkerPool(3)) {
            awaitParked(pool, 2);
            long before = pool.wakeups();
            pool.wake();
            long deadline = System.nanoTime() + 600_000_000_000L; // a hang guard only: a busy machine may take long
            while (pool.wakeups() < before + 2 && System.nanoTime() < deadline) Thread.sleep(1);
            assertTrue(pool.wakeups() >= before + 2, "wake() unparks both parked workers");
            awaitParked(pool, 2); // a wake with no call after it costs a short spin, then they sleep again
            AtomicLong sum = new AtomicLong();
            pool.wake();
            pool.forRange(9, (from, to) -> sum.addAndGet(to - from));
            assertEquals(9, sum.get());
        }
    }

    private static void awaitParked(WorkerPool pool, int n) throws InterruptedException {
        long deadline = System.nanoTime() + 600_000_000_000L; // a hang guard only: a busy machine may take long
        while (pool.parked() != n) {
            assertTrue(System.nanoTime() < deadline, "workers did not park: " + pool.parked() + " of " + n);
            Thread.sleep(1);
        }
    }

    @Test
    void taskExceptionIsRethrownInCallerAndPoolStaysUsable() {
        try (WorkerPool pool = new WorkerPool(3)) {
            IllegalStateException boom = new IllegalStateException("boom");
            // Fails in a worker's share (the last indices), not the caller's.
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.forRange(9, (from, to) -> {
                if (to == 9) throw boom;
            }));
            assertSame(boom, e);
            // ... and in the caller's own share.
            assertThrows(ArithmeticException.class, () -> pool.forRange(9, (from, to) -> {
                if (from == 0) throw new ArithmeticException("caller share");
            }));
            AtomicLong count = new AtomicLong();
            pool.forRange(9, (from, to) -> count.addAndGet(to - from));
            assertEquals(9, count.get());
        }
    }

    @Test
    void nestedCallRunsInline() {
        try (WorkerPool pool = new WorkerPool(2)) {
            AtomicLong count = new AtomicLong();
            pool.forRange(4, (from, to) -> pool.forRange(10, (a, b) -> count.addAndGet(b - a)));
            assertEquals(20, count.get());
        }
    }

    @Test
    void closeStopsThreadsAndRejectsWork() {
        WorkerPool pool = new WorkerPool(3);
        pool.forRange(6, (from, to) -> {});
        pool.close();
        assertTrue(pool.stopped(), "workers still alive after close");
        assertThrows(IllegalStateException.class, () -> pool.forRange(6, (from, to) -> {}));
    }

    @Test
    void badArgumentsFailClearly() {
        assertThrows(IllegalArgumentException.class, () -> new WorkerPool(0));
        try (WorkerPool pool = new WorkerPool(1)) {
            assertThrows(IllegalArgumentException.class, () -> pool.forRange(-1, (from, to) -> {}));
        }
    }
}
