package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.ComputePriority;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.scheduler.Scheduler;
import dev.kvfn.kv.tier.HostStoreOptions;
import dev.kvfn.kv.tier.RemoteKvTier;

/**
 * How a {@link CpuEngine} is sized: compute threads, context, the KV pool and the scheduler.
 *
 * @param threads            compute threads
 * @param contextLimit       cut the model's context to this many positions (bounds KV per sequence)
 * @param kvType             KV element type in the pool
 * @param blockTokens        tokens per KV block (a power of two)
 * @param poolBytes          KV pool size; 0 sizes it automatically (see {@link CpuEngine})
 * @param poolMemoryFraction with automatic sizing, the share of memory left after weights and heap
 * @param prefixCaching      reuse full blocks across requests by their hash-chained keys
 * @param maxStepTokens      token rows per forward step (prompt chunks plus one per decoding sequence)
 * @param maxSeqs            sequences running at once (each decodes one token per step)
 * @param maxQueue           requests waiting for admission; one more is refused with a QueueFullException (the
 *                           served app sets it to {@code kvfn.limits.max-requests}, so one limit answers 429)
 * @param hostStore          the host-memory tier below the pool, or null for none
 * @param remote             the shared tier (Redis), or null for none
 * @param computeNice        Linux nice value of the compute threads (0 leaves them alone; see {@link ComputePriority})
 */
public record EngineOptions(int threads, int contextLimit, KvElementType kvType, int blockTokens, long poolBytes,
                            double poolMemoryFraction, boolean prefixCaching, int maxStepTokens, int maxSeqs, int maxQueue,
                            HostStoreOptions hostStore, RemoteKvTier remote, int computeNice) {

    public EngineOptions {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (contextLimit < 2) throw new IllegalArgumentException("context limit must be >= 2, got " + contextLimit);
        if (kvType == null) throw new IllegalArgumentException("KV element type must be given");
        if (poolBytes < 0) throw new IllegalArgumentException("kvfn.kv.pool-bytes must be >= 0, got " + poolBytes);
        if (!(poolMemoryFraction > 0 && poolMemoryFraction <= 1)) {
            throw new IllegalArgumentException("kvfn.kv.memory-fraction must be in (0, 1], got " + poolMemoryFraction);
        }
        if (computeNice < 0 || computeNice > 19) throw new IllegalArgumentException("kvfn.engine.compute-nice must be in 0..19, got " + computeNice);
        new Scheduler.Limits(maxSeqs, maxStepTokens, maxQueue, prefixCaching); // checks them
        // block-tokens is checked by KvLayout with the model's sizes
    }

    public EngineOptions(int threads, int contextLimit, KvElementType kvType, int blockTokens, long poolBytes,
                         double poolMemoryFraction, boolean prefixCaching, int maxStepTokens, int maxSeqs, int maxQueue) {
        this(threads, contextLimit, kvType, blockTokens, poolBytes, poolMemoryFraction, prefixCaching, maxStepTokens, maxSeqs,
                maxQueue, null, null, 0);
    }

    Scheduler.Limits schedulerLimits() {
        return new Scheduler.Limits(maxSeqs, maxStepTokens, maxQueue, prefixCaching);
    }

    public static EngineOptions defaults(int threads) {
        return new EngineOptions(threads, Integer.MAX_VALUE, KvElementType.F16, 16, 0, 0.5, true, 512, 16, 256);
    }

    public EngineOptions withContextLimit(int v) { return new EngineOptions(threads, v, kvType, blockTokens, poolBytes, poolMemoryFraction, prefixCaching, maxStepTokens, maxSeqs, maxQueue, hostStore, remote, computeNice); }
    public EngineOptions withKv(KvElementType type, int tokens) { return new EngineOptions(threads, contextLimit, type, tokens, poolBytes, poolMemoryFraction, prefixCaching, maxStepTokens, maxSeqs, maxQueue, hostStore, remote, computeNice); }
    public EngineOptions withPoolBytes(long v) { return new EngineOptions(threads, contextLimit, kvType, blockTokens, v, poolMemoryFraction, prefixCaching, maxStepTokens, maxSeqs, maxQueue, hostStore, remote, computeNice); }
    public EngineOptions withPrefixCaching(boolean v) { return new EngineOptions(threads, contextLimit, kvType, blockTokens, poolBytes, poolMemoryFraction, v, maxStepTokens, maxSeqs, maxQueue, hostStore, remote, computeNice); }
    public EngineOptions withHostStore(HostStoreOptions v) { return new EngineOptions(threads, contextLimit, kvType, blockTokens, poolBytes, poolMemoryFraction, prefixCaching, maxStepTokens, maxSeqs, maxQueue, v, remote, computeNice); }
    public EngineOptions withRemote(RemoteKvTier v) { return new EngineOptions(threads, contextLimit, kvType, blockTokens, poolBytes, poolMemoryFraction, prefixCaching, maxStepTokens, maxSeqs, maxQueue, hostStore, v, computeNice); }
    public EngineOptions withComputeNice(int v) { return new EngineOptions(threads, contextLimit, kvType, blockTokens, poolBytes, poolMemoryFraction, prefixCaching, maxStepTokens, maxSeqs, maxQueue, hostStore, remote, v); }
    public EngineOptions withScheduler(int stepTokens, int seqs, int queue) { return new EngineOptions(threads, contextLimit, kvType, blockTokens, poolBytes, poolMemoryFraction, prefixCaching, stepTokens, seqs, queue, hostStore, remote, computeNice); }
}
