package dev.kvfn.scheduler;

import dev.kvfn.kv.BlockKey;

import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * What the scheduler sees below its block pool: where prefixes it does not hold may be restored
 * from, and where it reports the blocks it stores and evicts. The engine implements it over the KV
 * tiers (moving the bytes itself); the scheduler never knows which tiers exist.
 */
public interface PrefixSource {

    /** How many of {@code keys[from .. to)}, consecutively from {@code from}, {@link #restore} could bring back. */
    int available(BlockKey[] keys, int from, int to);

    /**
     * Fills pool blocks {@code blocks[0 .. count)} with {@code keys[from .. from + count)}; returns how
     * many leading blocks are good (the others hold nothing usable).
     */
    int restore(BlockKey[] keys, int from, int count, int[] blocks);

    /** Pool block {@code block} is now full and cached under {@code key}; its tokens are {@code tokens[from ..]}. */
    void stored(BlockKey key, BlockKey parent, int[] tokens, int from, boolean salted, int block);

    /** {@code key} is leaving pool block {@code block} (its bytes are intact during the call). */
    void evicted(BlockKey key, BlockKey parent, int block);

    /** A request was admitted with a cached chain ending at {@code last}. */
    default void hit(BlockKey last) {}

    /** Whether a sequence's chain should go through {@link #fetchAhead} before it is queued. */
    default boolean fetchesAhead() {
        return false;
    }

    /** Off the scheduler's loop: brings what it can of the chain {@code keys} (computed there) closer. Never fails. */
    default CompletableFuture<Void> fetchAhead(Supplier<BlockKey[]> keys) {
        return CompletableFuture.completedFuture(null);
    }
}
