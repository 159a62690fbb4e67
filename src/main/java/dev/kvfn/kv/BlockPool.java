package dev.kvfn.kv;

import java.util.HashMap;
import java.util.Map;

/**
 * The bookkeeping of an engine's KV blocks (their bytes live elsewhere, in {@link BlockMemory} for
 * the CPU engine): reference counts, a cache of full blocks by {@link BlockKey}, and an LRU queue of
 * free blocks.
 *
 * <p>A block is in exactly one of three states: <em>referenced</em> (ref count above zero: in use
 * by sequences, never evicted), <em>cached</em> (no references but it holds a key, so a later
 * prompt with that prefix can take it back) or <em>free</em> (no references, no key). Cached and
 * free blocks wait in one queue: {@link #allocate()} takes its head, evicting the head's key.
 * Keyless blocks go to the head (they hold nothing worth keeping); released cached blocks go to the
 * tail, a sequence's blocks deepest first, so among blocks freed together the deeper ones — least
 * likely to be shared by another prompt — are evicted first (vLLM's order). All operations are O(1)
 * except {@link #checkInvariants()}. Not thread-safe: the engine's scheduler thread owns it.
 */
public final class BlockPool {

    /** Told when a cached key leaves the pool (the engine spills it to a lower tier under the on-evict policy). */
    @FunctionalInterface
    public interface Listener {
        /** {@code key} is about to leave the pool; the block's bytes are still intact during the call. */
        void evicted(BlockKey key, BlockKey parent, int block);
    }

    private static final int NONE = -1;

    private final int capacity;
    private final int[] refs;
    private final BlockKey[] keys;
    private final BlockKey[] parents;
    private final Map<BlockKey, Integer> cached = new HashMap<>();
    private final int[] prev, next; // the free queue, a doubly-linked list over block ids
    private int head = NONE, tail = NONE, freeCount, idleCached;
    private long evictions;
    private Listener listener = (k, p, b) -> {};

    public BlockPool(int blocks) {
        if (blocks < 1) throw new IllegalArgumentException("a KV pool needs at least one block, got " + blocks);
        this.capacity = blocks;
        this.refs = new int[blocks];
        this.keys = new BlockKey[blocks];
        this.parents = new BlockKey[blocks];
        this.prev = new int[blocks];
        this.next = new int[blocks];
        for (int b = 0; b < blocks; b++) append(b);
    }

    public void setListener(Listener listener) {
        this.listener = listener == null ? (k, p, b) -> {} : listener;
    }

    public int capacity() { return capacity; }
    /** Blocks that {@link #allocate()} can hand out now (free plus cached). */
    public int available() { return freeCount; }
    /** Blocks with a key and no references. */
    public int cachedIdle() { return idleCached; }
    public int referenced() { return capacity - freeCount; }
    public long evictions() { return evictions; }
    public int refCount(int block) { return refs[block]; }
    public BlockKey key(int block) { return keys[block]; }

    /**
     * Takes the least recently used free block, evicting its key. Returns -1 when every block is
     * referenced. The returned block has one reference and no key.
     */
    public int allocate() {
        int b = head;
        if (b == NONE) return NONE;
        unlink(b);
        BlockKey k = keys[b];
        if (k != null) {
            idleCached--;
            listener.evicted(k, parents[b], b);
            cached.remove(k);
            keys[b] = null;
            parents[b] = null;
            evictions++;
        }
        refs[b] = 1;
        return b;
    }

    /** The block caching {@code key}, or -1. Does not take it. */
    public int lookup(BlockKey key) {
        Integer b = cached.get(key);
        return b == null ? NONE : b;
    }

    /** Adds a reference to a block (a cache hit); a cached idle block leaves the free queue. */
    public void take(int block) {
        if (refs[block]++ == 0) {
            if (keys[block] == null) throw new IllegalStateException("block " + block + " is free, not cached: cannot take it");
            unlink(block);
            idleCached--;
        }
    }

    /**
     * Drops one reference from each of {@code blocks[0 .. count)}, a sequence's chain in order; the
     * blocks that become unreferenced join the free queue, deepest first.
     */
    public void release(int[] blocks, int count) {
        for (int i = count - 1; i >= 0; i--) {
            int b = blocks[i];
            if (refs[b] <= 0) throw new IllegalStateException("block " + b + " released with no reference");
            if (--refs[b] == 0) {
                if (keys[b] == null) {
                    prepend(b);
                } else {
                    append(b);
                    idleCached++;
                }
            }
        }
    }

    /**
     * Gives a full, referenced block its key, making it findable by {@link #lookup}. Returns false
     * when another block already holds the key (two sequences computed the same prefix at once):
     * then this block stays keyless and is simply freed with its sequence.
     */
    public boolean register(int block, BlockKey key, BlockKey parent) {
        if (refs[block] <= 0) throw new IllegalStateException("block " + block + " must be referenced to get a key");
        if (keys[block] != null) throw new IllegalStateException("block " + block + " already has a key");
        if (cached.putIfAbsent(key, block) != null) return false;
        keys[block] = key;
        parents[block] = parent;
        return true;
    }

    /**
     * Checks the accounting: free + referenced + cached = total, the queue holds exactly the
     * unreferenced blocks, and every cached key maps to a block holding that key.
     *
     * @throws IllegalStateException describing the first broken rule
     */
    public void checkInvariants() {
        boolean[] queued = new boolean[capacity];
        int n = 0;
        for (int b = head, before = NONE; b != NONE; before = b, b = next[b]) {
            if (prev[b] != before) throw new IllegalStateException("free queue link broken at block " + b);
            if (queued[b]) throw new IllegalStateException("block " + b + " is twice in the free queue");
            queued[b] = true;
            n++;
            if (n > capacity) throw new IllegalStateException("free queue has a cycle");
        }
        if (n != freeCount) throw new IllegalStateException("free queue holds " + n + " blocks, count says " + freeCount);
        int free = 0, referenced = 0, idleCached = 0;
        for (int b = 0; b < capacity; b++) {
            if (refs[b] < 0) throw new IllegalStateException("block " + b + " has ref count " + refs[b]);
            if (refs[b] > 0 && queued[b]) throw new IllegalStateException("block " + b + " is both referenced and free");
            if (refs[b] == 0 && !queued[b]) throw new IllegalStateException("block " + b + " is unreferenced but not in the free queue");
            if (refs[b] > 0) referenced++;
            else if (keys[b] != null) idleCached++;
            else free++;
            if (keys[b] != null && !Integer.valueOf(b).equals(cached.get(keys[b]))) {
                throw new IllegalStateException("block " + b + " holds key " + keys[b] + " but the cache maps it to " + cached.get(keys[b]));
            }
        }
        if (free + referenced + idleCached != capacity) throw new IllegalStateException("free + referenced + cached != total");
        if (idleCached != this.idleCached) throw new IllegalStateException(idleCached + " idle cached blocks, count says " + this.idleCached);
        for (Map.Entry<BlockKey, Integer> e : cached.entrySet()) {
            if (!e.getKey().equals(keys[e.getValue()])) {
                throw new IllegalStateException("cached key " + e.getKey() + " maps to block " + e.getValue() + " which holds " + keys[e.getValue()]);
            }
        }
    }

    private void append(int b) {
        prev[b] = tail;
        next[b] = NONE;
        if (tail == NONE) head = b;
        else next[tail] = b;
        tail = b;
        freeCount++;
    }

    private void prepend(int b) {
        next[b] = head;
        prev[b] = NONE;
        if (head == NONE) tail = b;
        else prev[head] = b;
        head = b;
        freeCount++;
    }

    private void unlink(int b) {
        int p = prev[b], n = next[b];
        if (p == NONE) head = n;
        else next[p] = n;
        if (n == NONE) tail = p;
        else prev[n] = p;
        prev[b] = next[b] = NONE;
        freeCount--;
    }

    @Override
    public String toString() {
        return "BlockPool[" + capacity + " blocks, referenced " + referenced() + ", cached keys " + cached.size()
                + ", available " + freeCount + "]";
    }

}
