package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockKey;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;

/**
 * A KV tier shared by replicas (Redis): an index of which block keys exist, with their tokens,
 * and optionally their bytes. Every call is bounded by the tier's deadline and never throws: a
 * slow, failing or flushed remote costs cache hits, never a request. Keys are the engines' SHA-256
 * block keys, so they already bind model, layout and cache salt.
 */
public interface RemoteKvTier extends AutoCloseable {

    /** Where fetched blocks are put (the host store, or memory staged for the next admission); false: not kept. */
    interface Landing {
        boolean put(BlockKey key, BlockKey parent, MemorySegment bytes);
    }

    /**
     * Binds the tier to one model (its namespace, e.g. the fingerprint's short hex; its full fingerprint, which
     * sealed values are bound to) and block format; called once before any other call.
     */
    void attach(String namespace, byte[] fingerprint, BlockFormat format);

    /** The longest a {@link #fetch} for one request may hold its admission (lookup and fetch deadlines). */
    default Duration deadline() {
        return Duration.ofSeconds(2);
    }

    /**
     * Finds the longest run of {@code keys[from ..]} (up to {@code to}) whose bytes the remote holds,
     * fetches them, verifies each and hands it to {@code landing} with its parent ({@code keys[i-1]},
     * or none for {@code i == 0}). Returns how many consecutive blocks from {@code from} landed. Runs
     * off the engine's compute loop.
     */
    int fetch(BlockKey[] keys, int from, int to, Landing landing);

    /**
     * Announces a block: its index entry (with {@code tokens}, when given, so an engine that cannot
     * import bytes can re-prefill it) always, its bytes when given and the tier stores them.
     * {@code bytes} is valid only during the call. Asynchronous and bounded: when too much is in
     * flight the publication is dropped and counted.
     *
     * @param salted whether the chain belongs to a cache salt (its tokens are never handed out for re-prefill)
     */
    void publish(BlockKey key, BlockKey parent, int[] tokens, boolean salted, MemorySegment bytes);

    /** Counts a hit on the chain ending at {@code last} (hit counts and the hot-chain set). Asynchronous. */
    default void hit(BlockKey last) {}

    /**
     * The hottest chains the tier knows, hottest first, each root first, with at most {@code maxBlocks}
     * keys in all. Bounded by the tier's deadlines; empty when there are none or the tier cannot answer.
     */
    default List<BlockKey[]> hotChains(int maxBlocks) {
        return List.of();
    }

    /** The token ids of a chain (root first), or null when an entry lacks them, is salted or the tier cannot answer. */
    default int[] chainTokens(BlockKey[] chain) {
        return null;
    }

    /** Counters for metrics and the {@code cache} function. */
    RemoteStats stats();

    @Override
    void close();

    /**
     * @param state          {@code ok}, {@code not used yet}, or {@code failing: <last error>} (from its own calls, no probe)
     * @param lookups        chain lookups
     * @param hitBlocks      blocks found and fetched
     * @param missBlocks     blocks looked up and not found
     * @param published      publications that landed
     * @param publishDropped publications dropped (too many in flight)
     * @param errors         failed calls
     * @param timeouts       calls past their deadline
     * @param faults         blocks found damaged, forged, swapped, cut or oversized (deleted, recomputed)
     * @param restoredBytes  bytes fetched and verified
     * @param restoreNanos   time spent in fetches
     * @param publishedBytes bytes published
     */
    record RemoteStats(String tier, String state, long lookups, long hitBlocks, long missBlocks, long published, long publishDropped,
                       long errors, long timeouts, long faults, long restoredBytes, long restoreNanos, long publishedBytes) {}
}
