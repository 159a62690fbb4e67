package dev.kvfn.engine;

import dev.kvfn.kv.tier.TierStats;

import java.util.List;

/**
 * A snapshot of an engine's scheduler, its KV pool and the tiers below it, for metrics and the
 * {@code cache} function. The same numbers TensorRT-LLM's executor reports (request stats,
 * {@code KvCacheStats}), so a native engine fills it too.
 *
 * @param scheduler the request queue and running set
 * @param pool      the engine's own KV blocks
 * @param tiers     the tiers below the pool (host store, Redis), empty when there are none
 */
public record EngineStats(SchedulerStats scheduler, PoolStats pool, List<TierStats> tiers) {
    public static final EngineStats NONE = new EngineStats(SchedulerStats.NONE, PoolStats.NONE, List.of());

    public EngineStats {
        tiers = List.copyOf(tiers);
    }

    /** The named tier's numbers, or null when this engine has no such tier. */
    public TierStats tier(String name) {
        for (TierStats t : tiers) if (t.tier().equals(name)) return t;
        return null;
    }

    /**
     * @param waiting      requests queued, not yet admitted (including preempted ones)
     * @param running      sequences admitted (prefilling or decoding)
     * @param preemptions  sequences pushed back to the queue because the pool ran out, since start
     * @param steps        forward steps run since start
     * @param promptTokens prompt tokens admitted since start (the denominator of hit rates)
     */
    public record SchedulerStats(int waiting, int running, long preemptions, long steps, long promptTokens) {
        public static final SchedulerStats NONE = new SchedulerStats(0, 0, 0, 0, 0);
    }

    /**
     * @param blockTokens tokens per block
     * @param blockBytes  bytes per block
     * @param total       blocks in the pool
     * @param referenced  blocks in use by running sequences
     * @param cached      unreferenced blocks that still hold a prefix (reusable, evictable)
     * @param free        unreferenced blocks holding nothing
     * @param evictions   cached blocks whose prefix was dropped to make room, since start
     * @param hitTokens   prompt tokens found in the pool since start
     */
    public record PoolStats(int blockTokens, long blockBytes, int total, int referenced, int cached, int free, long evictions,
                            long hitTokens) {
        public static final PoolStats NONE = new PoolStats(0, 0, 0, 0, 0, 0, 0, 0);
    }
}
