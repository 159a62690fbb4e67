package dev.kvfn.engine;

/**
 * A snapshot of an engine's scheduler and KV pool, for metrics and the {@code cache} function. The
 * same numbers TensorRT-LLM's executor reports ({@code KvCacheStats}, request stats), so a native
 * engine fills it too.
 *
 * @param waiting           requests queued, not yet admitted (including preempted ones)
 * @param running           sequences admitted (prefilling or decoding)
 * @param preemptions       sequences pushed back to the queue because the pool ran out, since start
 * @param blocksTotal       KV blocks in the pool
 * @param blocksReferenced  blocks in use by running sequences
 * @param blocksCached      unreferenced blocks that still hold a prefix (reusable, evictable)
 * @param blocksFree        unreferenced blocks holding nothing
 * @param evictions         cached blocks whose prefix was dropped to make room, since start
 * @param blockTokens       tokens per block
 * @param blockBytes        bytes per block
 * @param steps             forward steps run since start
 * @param promptTokens      prompt tokens admitted since start (the denominator of hit rates)
 * @param poolHitTokens     prompt tokens found in the pool since start
 * @param tiers             the tiers below the pool (host store, Redis), empty when there are none
 */
public record EngineStats(int waiting, int running, long preemptions, int blocksTotal, int blocksReferenced, int blocksCached,
                          int blocksFree, long evictions, int blockTokens, long blockBytes, long steps, long promptTokens, long poolHitTokens,
                          java.util.List<TierStats> tiers) {
    public static final EngineStats NONE = new EngineStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, java.util.List.of());

    /** The named tier's numbers, or null when this engine has no such tier. */
    public TierStats tier(String name) {
        for (TierStats t : tiers) if (t.tier().equals(name)) return t;
        return null;
    }
}
