package dev.kvfn.kv;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Moves full blocks from the pool to the {@link HostStore} without slowing the compute loop. The
 * pool's listener (scheduler thread) only copies a block into one of {@code queueBlocks} staging
 * buffers and queues it; a writer thread checksums it into the store. When every staging buffer
 * is busy the block is not spilled (counted in {@link #dropped()}): losing a spill costs a future
 * hit, never correctness. Policy {@link Policy#WRITE_THROUGH} spills every block as soon as it is
 * full, so a replica killed without warning loses at most what was still queued;
 * {@link Policy#ON_EVICT} spills only blocks the pool evicts.
 */
public final class HostTier implements BlockPool.Listener, AutoCloseable {

    public enum Policy {
        WRITE_THROUGH, ON_EVICT;

        public static Policy parse(String s) {
            if (s != null) {
                switch (s.strip().toLowerCase(java.util.Locale.ROOT)) {
                    case "write-through": return WRITE_THROUGH;
                    case "on-evict": return ON_EVICT;
                    default: break;
                }
            }
            throw new IllegalArgumentException("unknown kvfn.kv.host-store.policy '" + s + "': use write-through or on-evict");
        }
    }

    /** Told after a block is in the host store (the Redis tier publishes it). */
    public interface Published {
        void published(BlockKey key, BlockKey parent, MemorySegment bytes);
    }

    private record Pending(BlockKey key, BlockKey parent, int buffer) {}

    private static final Pending STOP = new Pending(null, null, -1);

    private final HostStore store;
    private final BlockPool pool;
    private final Policy policy;
    private final long blockBytes;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment staging;
    private final ArrayBlockingQueue<Integer> freeBuffers;
    private final ArrayBlockingQueue<Pending> queue;
    private final Thread writer;
    private final AtomicLong dropped = new AtomicLong(), spilledBytes = new AtomicLong(), spillNanos = new AtomicLong();
    private volatile Published published = (k, p, b) -> {};
    private final Object idle = new Object();
    private int inFlight; // guarded by idle

    public HostTier(HostStore store, BlockPool pool, Policy policy, int queueBlocks) {
        if (queueBlocks < 1) throw new IllegalArgumentException("kvfn.kv.host-store.queue-blocks must be >= 1, got " + queueBlocks);
        if (store.layout().blockBytes() != pool.blockBytes()) throw new IllegalArgumentException("host store and pool layouts differ");
        this.store = store;
        this.pool = pool;
        this.policy = policy;
        this.blockBytes = pool.blockBytes();
        this.staging = arena.allocate(blockBytes * queueBlocks, 64);
        this.freeBuffers = new ArrayBlockingQueue<>(queueBlocks);
        for (int i = 0; i < queueBlocks; i++) freeBuffers.add(i);
        this.queue = new ArrayBlockingQueue<>(queueBlocks + 1);
        this.writer = Thread.ofPlatform().daemon().name("kvfn-host-store-writer").start(this::write);
    }

    public void onPublished(Published p) {
        this.published = p == null ? (k, q, b) -> {} : p;
    }

    public HostStore store() { return store; }

    public Policy policy() { return policy; }

    @Override
    public void stored(BlockKey key, BlockKey parent, int block) {
        if (policy == Policy.WRITE_THROUGH) stage(key, parent, block);
    }

    @Override
    public void evicted(BlockKey key, BlockKey parent, int block) {
        if (policy == Policy.ON_EVICT && !store.contains(key)) stage(key, parent, block);
    }

    private void stage(BlockKey key, BlockKey parent, int block) {
        Integer buffer = freeBuffers.poll();
        if (buffer == null) {
            dropped.incrementAndGet();
            return;
        }
        MemorySegment.copy(pool.memory(), pool.offset(block), staging, buffer * blockBytes, blockBytes);
        synchronized (idle) {
            inFlight++;
        }
        queue.add(new Pending(key, parent, buffer));
    }

    private void write() {
        while (true) {
            Pending p;
            try {
                p = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            if (p == STOP) return;
            try {
                MemorySegment bytes = staging.asSlice(p.buffer() * blockBytes, blockBytes);
                long t0 = System.nanoTime();
                boolean stored = store.put(p.key(), p.parent(), bytes, 0);
                spillNanos.addAndGet(System.nanoTime() - t0);
                if (stored) {
                    spilledBytes.addAndGet(blockBytes);
                    published.published(p.key(), p.parent(), bytes);
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

    /** Waits until every queued block is in the store (shutdown, tests), then forces the mapping to its file. */
    public boolean flush(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        synchronized (idle) {
            while (inFlight > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return false;
                TimeUnit.NANOSECONDS.timedWait(idle, left);
            }
        }
        store.flush();
        return true;
    }

    /** Restores a block from the store into the pool block {@code block}; false when absent or bad (dropped). */
    public boolean restore(BlockKey key, int block) {
        return store.restore(key, pool.memory(), pool.offset(block));
    }

    /** See {@link HostStore#plan}. */
    public int plan(BlockKey[] keys, int n, int[] slots, long[] generations, int[] crcs) {
        return store.plan(keys, n, slots, generations, crcs);
    }

    /** Copies a planned slot into pool block {@code block}, verifying its checksum (any thread). */
    public boolean copyVerified(int slot, int crc, int block) {
        return store.copyVerified(slot, crc, pool.memory(), pool.offset(block));
    }

    /** See {@link HostStore#commit}. */
    public int commit(BlockKey[] keys, int n, int[] slots, long[] generations, boolean[] ok) {
        return store.commit(keys, n, slots, generations, ok);
    }

    public boolean contains(BlockKey key) {
        return store.contains(key);
    }

    public long dropped() { return dropped.get(); }

    public long spilledBytes() { return spilledBytes.get(); }

    /** Writer-thread time spent copying and checksumming blocks into the store. */
    public long spillNanos() { return spillNanos.get(); }

    @Override
    public void close() {
        try {
            flush(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        queue.offer(STOP);
        try {
            writer.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        arena.close();
        store.close();
    }

}
