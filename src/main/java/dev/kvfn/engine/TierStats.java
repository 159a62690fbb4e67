package dev.kvfn.engine;

/**
 * One KV tier below the engine's pool (host store, Redis), for metrics and the {@code cache} function.
 *
 * @param tier          {@code host} or {@code redis}
 * @param blocks        blocks held (host) or known to this replica's lookups (redis: -1 when unknown)
 * @param capacity      blocks it can hold (-1 when unbounded or unknown)
 * @param hitTokens     prompt tokens served from this tier
 * @param writes        blocks written to it
 * @param evictions     blocks it dropped to make room
 * @param faults        blocks found damaged or unreadable (dropped and recomputed), errors and timeouts
 * @param dropped       blocks not written because its queue was full or it failed
 * @param restoredBytes bytes copied from it into the pool (host) or the host store (redis)
 * @param restores      blocks restored from it
 * @param restoreNanos  time spent restoring them (copy and checksum; for redis the round trips)
 * @param writtenBytes  bytes written to it
 * @param writeNanos    time spent writing them (off the compute loop)
 */
public record TierStats(String tier, long blocks, long capacity, long hitTokens, long writes, long evictions, long faults,
                        long dropped, long restoredBytes, long restores, long restoreNanos, long writtenBytes, long writeNanos) {}
