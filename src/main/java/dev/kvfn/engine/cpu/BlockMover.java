package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.BlockMemory;
import dev.kvfn.kv.tier.BlockSink;
import dev.kvfn.kv.tier.KvTiers;
import dev.kvfn.scheduler.PrefixSource;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

/**
 * The CPU engine's link between its scheduler and the KV tiers: block events go down with the
 * block's bytes from {@link BlockMemory}, restores come up into pool blocks, copied on every
 * compute thread (idle between steps). Scheduler thread only, except {@link #fetchAhead}.
 */
final class BlockMover implements PrefixSource, BlockSink {
    private final KvTiers tiers;
    private final BlockMemory memory;
    private final WorkerPool workers;
    // the restore in progress (one at a time, on the scheduler thread)
    private int[] targets;
    private IntConsumer copy;
    private int count;
    private final AtomicInteger cursor = new AtomicInteger();
    private final WorkerPool.RangeTask copyTask = this::copyRange;

    BlockMover(KvTiers tiers, BlockMemory memory, WorkerPool workers) {
        this.tiers = tiers;
        this.memory = memory;
        this.workers = workers;
    }

    @Override
    public int available(BlockKey[] keys, int from, int to) {
        return tiers.cachedRun(keys, from, to);
    }

    @Override
    public int restore(BlockKey[] keys, int from, int count, int[] blocks) {
        workers.wake(); // parked since the last step: their wake-up overlaps the tier's planning
        targets = blocks;
        try {
            return tiers.restore(keys, from, count, this);
        } finally {
            targets = null;
        }
    }

    @Override
    public void stored(BlockKey key, BlockKey parent, int[] tokens, int from, boolean salted, int block) {
        tiers.stored(key, parent, tokens, from, salted, memory.block(block));
    }

    @Override
    public void evicted(BlockKey key, BlockKey parent, int block) {
        tiers.removed(key, parent, memory.block(block));
    }

    @Override
    public void hit(BlockKey last) {
        tiers.hit(last);
    }

    @Override
    public boolean fetchesAhead() {
        return tiers.fetchesAhead();
    }

    @Override
    public CompletableFuture<Void> fetchAhead(Supplier<BlockKey[]> keys) {
        return tiers.fetchAhead(keys);
    }

    // ---- BlockSink: the pool blocks of the restore in progress -----------------------------------

    @Override
    public MemorySegment segment() {
        return memory.segment();
    }

    @Override
    public long offset(int i) {
        return memory.offset(targets[i]);
    }

    /** Threads take blocks one at a time from a shared cursor, so a thread the OS delays holds nobody up. */
    @Override
    public void forEach(int n, IntConsumer task) {
        copy = task;
        count = n;
        cursor.set(0);
        try {
            workers.forRange(n, copyTask);
        } finally {
            copy = null;
        }
    }

    private void copyRange(int from, int to) {
        for (int i; (i = cursor.getAndIncrement()) < count; ) copy.accept(i);
    }
}
