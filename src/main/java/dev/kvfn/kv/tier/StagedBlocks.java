package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockKey;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where blocks fetched from the remote tier wait for the admission that asked for them when the
 * replica has no host store: a bounded, least-recently-fetched-first set of off-heap copies. A
 * restore takes a block out. Thread-safe (fetch thread puts, engine thread takes).
 */
final class StagedBlocks implements RemoteKvTier.Landing {
    private record Staged(BlockKey parent, MemorySegment bytes) {}

    private final int capacity;
    private final LinkedHashMap<BlockKey, Staged> blocks;

    StagedBlocks(int capacity) {
        this.capacity = Math.max(1, capacity);
        this.blocks = new LinkedHashMap<>(16, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<BlockKey, Staged> eldest) {
                return size() > StagedBlocks.this.capacity;
            }
        };
    }

    @Override
    public synchronized boolean put(BlockKey key, BlockKey parent, MemorySegment bytes) {
        if (blocks.containsKey(key)) return true;
        MemorySegment copy = Arena.ofAuto().allocate(bytes.byteSize(), 64); // freed by the GC once taken or dropped
        copy.copyFrom(bytes);
        blocks.put(key, new Staged(parent, copy));
        return true;
    }

    synchronized boolean contains(BlockKey key) {
        return blocks.containsKey(key);
    }

    /** Moves {@code key}'s bytes to {@code dst} at {@code offset}; false when it is not staged (any more). */
    synchronized boolean take(BlockKey key, MemorySegment dst, long offset) {
        Staged s = blocks.remove(key);
        if (s == null) return false;
        MemorySegment.copy(s.bytes(), 0, dst, offset, s.bytes().byteSize());
        return true;
    }

    synchronized int size() {
        return blocks.size();
    }
}
