package dev.kvfn.kv.tier;

/**
 * One KV tier below an engine's pool (host store, Redis), for metrics and the {@code cache} function.
 *
 * @param tier      {@code host} or {@code redis}
 * @param state     {@code ok}; for the host store {@code off: ...} once its file failed under the process; for Redis
 *                  {@code failing: <last error>} while its calls fail, {@code not used yet}
 * @param blocks    blocks held (-1 when unknown: Redis)
 * @param capacity  blocks it can hold (-1 when unbounded or unknown)
 * @param hitTokens prompt tokens served from this tier
 * @param evictions blocks it dropped to make room
 * @param faults    blocks found damaged or unreadable (dropped and recomputed), errors and timeouts
 * @param dropped   blocks not written because the queue was full or the write failed
 * @param writes    blocks written to it (time: off the compute loop)
 * @param restores  blocks restored from it (into the pool for the host store; fetched, for Redis)
 */
public record TierStats(String tier, String state, long blocks, long capacity, long hitTokens, long evictions, long faults, long dropped,
                        Transfers writes, Transfers restores) {

    /** A count of blocks moved, their bytes and the time it took. */
    public record Transfers(long blocks, long bytes, long nanos) {
        public static final Transfers NONE = new Transfers(0, 0, 0);
    }

    /** A tier that has done nothing yet (a meter registered before the tier reports). */
    public static TierStats empty(String tier) {
        return new TierStats(tier, "not used yet", 0, 0, 0, 0, 0, 0, Transfers.NONE, Transfers.NONE);
    }
}
