package dev.kvfn.kv;

import java.lang.foreign.MemorySegment;

/**
 * A KV tier shared by replicas (Redis): an index of which block keys exist, and optionally their
 * bytes. Every call is bounded by the tier's deadline and never throws: a slow, failing or flushed
 * remote costs cache hits, never a request. Keys are the pool's SHA-256 block keys, so they already
 * bind model, layout and cache salt.
 */
public interface RemoteKvTier extends AutoCloseable {

    /** Binds the tier to one model (its namespace) and KV layout; called once by the engine before any other call. */
    void attach(String modelFingerprint, KvLayout layout);

    /**
     * Finds the longest run of {@code keys[from ..]} (up to {@code to}) whose bytes the remote holds,
     * fetches them, verifies each (size and CRC32C) and stores them in {@code store} with their parent
     * ({@code keys[i-1]}, or none for {@code i == 0}). Returns how many consecutive blocks from
     * {@code from} are now in the store. Runs on the engine's restore thread, never its compute loop.
     */
    int restoreInto(BlockKey[] keys, int from, int to, HostStore store);

    /**
     * Announces a block that reached the host store: index entry always, bytes when the tier stores
     * them. {@code bytes} is valid only during the call. Asynchronous and bounded: when too much is in
     * flight the publication is dropped and counted.
     */
    void publish(BlockKey key, BlockKey parent, MemorySegment bytes);

    /** Counts a hit on the chain ending at {@code last} (hit counts and the hot-chain set). Asynchronous. */
    default void hit(BlockKey last) {}

    /**
     * The hottest chains the tier knows, hottest first, each root first, with at most {@code maxBlocks}
     * keys in all (start-up prewarm of a replica whose host store lacks them). Bounded by the tier's
     * deadlines; empty when there are none or the tier cannot answer.
     */
    default java.util.List<BlockKey[]> hotChains(int maxBlocks) {
        return java.util.List.of();
    }

    /** Counters for metrics and the {@code cache} function. */
    RemoteStats stats();

    @Override
    void close();

    record RemoteStats(String tier, long lookups, long hitBlocks, long missBlocks, long published, long publishDropped,
                       long errors, long timeouts, long faults, long restoredBytes, long restoreNanos, long publishedBytes) {}
}
