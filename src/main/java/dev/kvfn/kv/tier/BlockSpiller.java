package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockKey;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Moves full blocks out of the engine's pool without slowing its loop: {@link #offer} (engine
 * thread) only copies a block into one of {@code queueBlocks} staging buffers and queues it; a
 * spill thread hands it to the {@link Writer} (host store, then the remote tier). When every
 * staging buffer is busy the block is not spilled (counted in {@link #dropped()}): losing a spill
 * costs a future hit, never correctness.
 */
final class BlockSpiller implements AutoCloseable {

    /** Runs on the spill thread; {@code bytes} is valid during the call only. True when the block was kept. */
    interface Writer {
        boolean write(BlockKey key, BlockKey parent, int[] tokens, boolean salted, MemorySegment bytes);
    }

    private record Pending(BlockKey key, BlockKey parent, int[] tokens, boolean salted, int buffer) {}

    private static final Pending STOP = new Pending(null, null, null, false, -1);

    private final Writer writer;
    private final long blockBytes;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment staging;
    private final ArrayBlockingQueue<Integer> freeBuffers;
    private final ArrayBlockingQueue<Pending> queue;
    private final Thread thread;
    private final AtomicLong dropped = new AtomicLong(), spilledBytes = new AtomicLong(), spills = new AtomicLong(),
            spillNanos = new AtomicLong();
    private final Object idle = new Object();
    private int inFlight; // guarded by idle

    BlockSpiller(long blockBytes, int queueBlocks, Writer writer) {
        if (queueBlocks < 1) throw new IllegalArgumentException("kvfn.kv.host-store.queue-blocks must be >= 1, got " + queueBlocks);
        this.writer = writer;
        this.blockBytes = blockBytes;
        this.staging = arena.allocate(blockBytes * queueBlocks, 64);
        this.freeBuffers = new ArrayBlockingQueue<>(queueBlocks);
        for (int i = 0; i < queueBlocks; i++) freeBuffers.add(i);
        this.queue = new ArrayBlockingQueue<>(queueBlocks + 1);
        this.thread = Thread.ofPlatform().daemon().name("kvfn-kv-spill").start(this::run);
    }

    /** Copies {@code bytes} into a staging buffer and queues it; {@code tokens} must be a copy the spiller may keep. */
    void offer(BlockKey key, BlockKey parent, int[] tokens, boolean salted, MemorySegment bytes) {
        Integer buffer = freeBuffers.poll();
        if (buffer == null) {
            dropped.incrementAndGet();
            return;
        }
        MemorySegment.copy(bytes, 0, staging, buffer * blockBytes, blockBytes);
        synchronized (idle) {
            inFlight++;
        }
        queue.add(new Pending(key, parent, tokens, salted, buffer));
    }

    private void run() {
        while (true) {
            Pending p;
            try {
                p = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            if (p == STOP) return;
            try {
                long t0 = System.nanoTime();
                boolean kept = writer.write(p.key(), p.parent(), p.tokens(), p.salted(),
                        staging.asSlice(p.buffer() * blockBytes, blockBytes));
                spillNanos.addAndGet(System.nanoTime() - t0);
                if (kept) {
                    spills.incrementAndGet();
                    spilledBytes.addAndGet(blockBytes);
                }
            } catch (RuntimeException e) {
                dropped.incrementAndGet(); // a failing store or publisher costs hits, not the engine
            } finally {
                freeBuffers.add(p.buffer());
                synchronized (idle) {
                    if (--inFlight == 0) idle.notifyAll();
                }
            }
        }
    }

    /** Waits until every queued block has been written; false at the deadline. */
    boolean drain(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        synchronized (idle) {
            while (inFlight > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return false;
                TimeUnit.NANOSECONDS.timedWait(idle, left);
            }
        }
        return true;
    }

    long dropped() { return dropped.get(); }

    long spills() { return spills.get(); }

    long spilledBytes() { return spilledBytes.get(); }

    /** Spill-thread time spent writing blocks (copy and checksum into the store, handing them to the remote tier). */
    long spillNanos() { return spillNanos.get(); }

    @Override
    public void close() {
        try {
            drain(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        queue.offer(STOP);
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        arena.close();
    }
}
