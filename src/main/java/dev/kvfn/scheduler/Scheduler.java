package dev.kvfn.scheduler;

import dev.kvfn.engine.EngineStats;
import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.QueueFullException;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.BlockPool;
import dev.kvfn.kv.BlockTable;
import dev.kvfn.tokenizer.Tokenizer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Continuous batching over a paged {@link BlockPool}, for an engine whose loop runs one forward
 * step at a time. Each step ({@link #plan()}) admits waiting requests while there are slots and
 * blocks for them, taking the longest cached prefix of full blocks first (the pool's, then what
 * the {@link PrefixSource} can restore), then plans one batch of token rows: one decode row for
 * every sequence that has sampled its last token, then prompt chunks under the step's token budget
 * (chunked prefill). When a decoding sequence needs a block and none is free, the newest sequence
 * is preempted: its blocks are released (full ones stay cached) and it is queued first in line, to
 * be recomputed from its prompt plus what it has generated. The engine runs the step, then reports
 * it ({@link #computed()}) and each sampled token ({@link #accept}); full blocks are registered
 * under their hash-chained keys as they fill.
 *
 * <p>Threads: {@link #submit} from any thread; everything else from the engine's loop thread,
 * which owns the pool.
 */
public final class Scheduler {

    /**
     * @param maxSeqs       sequences running at once (each decodes one token per step)
     * @param maxStepTokens token rows per step (prompt chunks plus one per decoding sequence)
     * @param maxQueue      requests waiting for admission; one more is refused with a {@link QueueFullException}
     * @param prefixCaching reuse full blocks across requests by their keys
     */
    public record Limits(int maxSeqs, int maxStepTokens, int maxQueue, boolean prefixCaching) {
        public Limits {
            if (maxStepTokens < 1) throw new IllegalArgumentException("kvfn.scheduler.max-step-tokens must be >= 1, got " + maxStepTokens);
            if (maxSeqs < 1 || maxSeqs > maxStepTokens) {
                throw new IllegalArgumentException("kvfn.scheduler.max-seqs must be between 1 and max-step-tokens (" + maxStepTokens
                        + "), got " + maxSeqs);
            }
            if (maxQueue < 0) throw new IllegalArgumentException("the scheduler's queue limit must be >= 0, got " + maxQueue);
        }
    }

    private final BlockPool pool;
    private final int blockTokens;
    private final Limits limits;
    private final BlockHasher hasher;                      // the loop thread's
    private final ThreadLocal<BlockHasher> offLoopHasher;  // keys computed ahead of admission
    private final PrefixSource lower;                      // null: the pool is the only tier
    private final Tokenizer tokenizer;

    private final LinkedBlockingQueue<Sequence> incoming = new LinkedBlockingQueue<>();
    private final AtomicInteger queued = new AtomicInteger(); // incoming + waiting, for the queue limit
    private volatile boolean closed;

    // loop thread only
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final ArrayList<Sequence> running = new ArrayList<>();
    private final ArrayList<Sequence> finished = new ArrayList<>(); // completed this step, handed out by completeFinished
    private final StepPlan plan;
    private final int[] hitBlocks, restoreBlocks;
    private final int[] oneBlock = new int[1];
    private long preemptions, steps, promptTokens, poolHitTokens;

    /**
     * @param hashers makes a {@link BlockHasher} for the model and layout (one per thread that computes keys)
     * @param lower   below the pool, or null
     * @param maxContext the most positions a sequence may hold
     */
    public Scheduler(BlockPool pool, int blockTokens, int maxContext, Limits limits, Supplier<BlockHasher> hashers,
                     PrefixSource lower, Tokenizer tokenizer) {
        this.pool = pool;
        this.blockTokens = blockTokens;
        this.limits = limits;
        this.hasher = hashers.get();
        this.offLoopHasher = ThreadLocal.withInitial(hashers);
        this.lower = limits.prefixCaching() ? lower : null;
        this.tokenizer = tokenizer;
        this.plan = new StepPlan(limits.maxSeqs());
        int maxBlocks = (maxContext + blockTokens - 1) / blockTokens;
        this.hitBlocks = new int[maxBlocks];
        this.restoreBlocks = new int[maxBlocks];
        if (this.lower != null) pool.setListener(this.lower::evicted);
    }

    public Limits limits() { return limits; }

    /** Blocks a request of {@code positions} needs at most. */
    public int blocksFor(int positions) {
        return (positions + blockTokens - 1) / blockTokens;
    }

    // ---- any thread ------------------------------------------------------------------------------

    /**
     * Queues a request that may generate up to {@code limit} tokens; {@code state} is the engine's own
     * per-sequence state ({@link Sequence#state()}), made by {@code stateFor} from the sequence's
     * block table.
     *
     * @throws QueueFullException    when {@code maxQueue} requests already wait
     * @throws IllegalStateException when the scheduler is shut down
     */
    public Sequence submit(GenerationRequest request, TokenSink sink, int limit,
                           java.util.function.Function<BlockTable, Object> stateFor) {
        if (closed) throw new IllegalStateException("engine is closed");
        if (queued.incrementAndGet() > limits.maxQueue()) {
            queued.decrementAndGet();
            throw new QueueFullException("the engine's queue already holds " + limits.maxQueue()
                    + " waiting requests (the scheduler's max-queue); retry shortly", 1);
        }
        var table = new BlockTable(pool, blockTokens, request.promptTokens().length + limit);
        var seq = new Sequence(request, sink == null ? TokenSink.NONE : sink, limit, table, stateFor.apply(table), System.nanoTime());
        if (lower != null && lower.fetchesAhead()) {
            try {
                lower.fetchAhead(() -> seq.prefixKeys(offLoopHasher.get())).whenComplete((v, e) -> enqueue(seq));
            } catch (IllegalStateException e) {
                queued.decrementAndGet();
                throw new IllegalStateException("engine is closed");
            }
        } else {
            enqueue(seq);
        }
        return seq;
    }

    private void enqueue(Sequence seq) {
        incoming.add(seq);
        if (closed && incoming.remove(seq)) {
            queued.decrementAndGet();
            seq.result.completeExceptionally(new IllegalStateException("engine is closed"));
        }
    }

    // ---- the loop thread -------------------------------------------------------------------------

    /** Blocks while there is nothing to do; false once interrupted (the engine is closing). */
    public boolean awaitWork() {
        if (running.isEmpty() && waiting.isEmpty()) {
            completeFinished(); // idle: hand out what cancellations and the last step left
            try {
                waiting.add(incoming.take());
            } catch (InterruptedException e) {
                return false;
            }
        }
        return true;
    }

    /**
     * The next step: takes new requests, drops cancelled ones, admits, and plans the rows. An empty
     * plan means nothing can run now (waiting for blocks, or all sequences just left).
     */
    public StepPlan plan() {
        plan.clear(); // a failure before buildStep must not find the last step's sequences here
        for (Sequence s; (s = incoming.poll()) != null; ) waiting.add(s);
        reapCancelled();
        admit();
        buildStep();
        return plan;
    }

    /** Cancelled sequences leave at the start of a step, releasing their blocks. */
    private void reapCancelled() {
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence s = running.get(i);
            if (s.cancelled) {
                running.remove(i);
                s.blocks.release();
                done(s, s.finish(FinishReason.CANCELLED), null);
            }
        }
        for (var it = waiting.iterator(); it.hasNext(); ) {
            Sequence s = it.next();
            if (s.cancelled) {
                it.remove();
                queued.decrementAndGet();
                done(s, s.finish(FinishReason.CANCELLED), null);
            }
        }
    }

    /**
     * Admits waiting sequences, first in line first, while there are slots and blocks. A sequence whose
     * admission throws (a tier below the pool, a bug) fails alone, its blocks back in the pool; the
     * failure is rethrown for the engine to log and count.
     */
    private void admit() {
        while (running.size() < limits.maxSeqs() && !waiting.isEmpty()) {
            Sequence s = waiting.peekFirst();
            try {
                if (!admit(s)) return;
            } catch (RuntimeException | Error e) {
                if (waiting.peekFirst() == s) {
                    waiting.pollFirst();
                    queued.decrementAndGet();
                }
                running.remove(s);
                s.blocks.release();
                done(s, null, GenerationFailedException.of(e));
                throw e;
            }
        }
    }

    /** Admits {@code s}, the first in line; false when the pool cannot hold it yet. */
    private boolean admit(Sequence s) {
        // Longest chain of cached full blocks, leaving at least one token to compute (its logits start decoding).
        int hits = 0, restorable = 0;
        BlockKey[] keys = null;
        if (limits.prefixCaching()) {
            int maxHits = (s.length - 1) / blockTokens;
            keys = s.keys(maxHits, hasher);
            while (hits < maxHits) {
                int b = pool.lookup(keys[hits]);
                if (b < 0) break;
                hitBlocks[hits++] = b;
            }
            // Below the pool: the blocks that follow, restored by copy.
            if (lower != null) restorable = lower.available(keys, hits, maxHits);
        }
        int idleHits = 0;
        for (int i = 0; i < hits; i++) if (pool.refCount(hitBlocks[i]) == 0) idleHits++;
        int needed = blocksFor(Math.min(s.length + 1, s.maxLength())) - hits;
        if (pool.available() - idleHits < needed) return false; // wait for running sequences to free blocks
        waiting.pollFirst();
        queued.decrementAndGet();
        for (int i = 0; i < hits; i++) {
            pool.take(hitBlocks[i]);
            s.blocks.append(hitBlocks[i]);
        }
        int poolHits = hits;
        if (restorable > 0) hits += restore(keys, hits, restorable, s.blocks);
        s.computed = hits * blockTokens;
        s.hashed = hits;
        if (!s.admitted) {
            s.cachedTokens = s.computed;
            promptTokens += s.promptLength;
            poolHitTokens += (long) poolHits * blockTokens;
            if (lower != null && hits > 0) lower.hit(keys[hits - 1]);
        }
        s.admitted = true;
        running.add(s);
        return true;
    }

    /**
     * Restores {@code keys[from .. from + n)} into fresh pool blocks (counted in the admission's
     * need, so allocation cannot fail), registers the good ones and appends them to {@code table}
     * when given; returns how many were good.
     */
    private int restore(BlockKey[] keys, int from, int n, BlockTable table) {
        for (int r = 0; r < n; r++) restoreBlocks[r] = pool.allocate();
        int good;
        try {
            good = lower.restore(keys, from, n, restoreBlocks);
        } catch (RuntimeException | Error e) {
            pool.release(restoreBlocks, n); // nothing usable in them; the caller fails the sequence
            throw e;
        }
        for (int r = 0; r < n; r++) {
            if (r < good) {
                pool.register(restoreBlocks[r], keys[from + r], from + r == 0 ? null : keys[from + r - 1]);
                if (table != null) table.append(restoreBlocks[r]);
            } else {
                oneBlock[0] = restoreBlocks[r];
                pool.release(oneBlock, 1);
            }
        }
        return good;
    }

    /**
     * Plans the step: a decode row for every sequence with one token pending (preempting the
     * newest sequence when one needs a block and the pool is out), then prompt chunks in admission
     * order under the token budget.
     */
    private void buildStep() {
        plan.clear();
        int budget = limits.maxStepTokens();
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            if (s.length - s.computed != 1) continue;
            boolean gone = false;
            while (!grow(s, s.computed + 1)) {
                Sequence victim = running.getLast(); // unscheduled: decode rows are added in list order
                preempt(victim);
                if (victim == s) {
                    gone = true;
                    break;
                }
            }
            if (gone) break; // s was the last sequence
            plan.add(s, s.computed, 1, true);
            budget--;
        }
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            int pending = s.length - s.computed;
            if (pending <= 1) continue;
            int rows = Math.min(pending, budget);
            grow(s, s.computed + rows); // takes what blocks there are; never preempts (rows above may use them)
            rows = Math.min(rows, s.blocks.capacity() - s.computed);
            if (rows <= 0) continue;
            plan.add(s, s.computed, rows, s.computed + rows == s.length);
            budget -= rows;
        }
        if (plan.isEmpty() && running.size() > 1) {
            // Every sequence is stuck mid-prompt holding blocks the others need: free the newest.
            preempt(running.getLast());
        }
    }

    /** Appends blocks until {@code s} holds {@code positions}; false when the pool ran out first. */
    private boolean grow(Sequence s, int positions) {
        while (s.blocks.capacity() < positions) {
            int b = pool.allocate();
            if (b < 0) return false;
            s.blocks.append(b);
        }
        return true;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        s.blocks.release();
        s.computed = 0;
        s.hashed = 0;
        waiting.addFirst(s);
        queued.incrementAndGet();
        preemptions++;
    }

    /** The planned rows were computed: their KV is in the blocks; full blocks get their keys. */
    public void computed() {
        steps++;
        for (int j = 0; j < plan.size(); j++) {
            Sequence s = plan.sequence(j);
            s.computed += plan.rows(j);
            if (!limits.prefixCaching()) continue;
            for (int full = s.computed / blockTokens; s.hashed < full; s.hashed++) {
                int block = s.blocks.block(s.hashed);
                if (pool.key(block) != null) continue;
                BlockKey key = s.key(s.hashed, hasher), parent = s.hashed == 0 ? null : s.key(s.hashed - 1, hasher);
                if (pool.register(block, key, parent) && lower != null) {
                    lower.stored(key, parent, s.tokens, s.hashed * blockTokens, s.request.cacheSalt() != null, block);
                }
            }
        }
    }

    /**
     * A token sampled for the planned sequence {@code s} (after {@link #computed()}): appended and
     * streamed; a finished sequence releases its blocks and completes at {@link #completeFinished()}.
     * A sink that throws fails its own request only.
     */
    public void accept(Sequence s, int token) {
        if (s.ended) return; // failed earlier in this step
        boolean done;
        try {
            done = s.emit(token, tokenizer);
        } catch (RuntimeException e) {
            fail(s, e);
            return;
        }
        if (done) {
            running.remove(s);
            s.blocks.release();
            done(s, s.finish(s.reason), null);
        }
    }

    /** Fails one running sequence (its sampling or its sink failed); the others go on. A sequence already ended is left as it is. */
    public void fail(Sequence s, Throwable e) {
        if (s.ended) return;
        running.remove(s);
        s.blocks.release();
        done(s, null, e);
    }

    /**
     * Something in the step threw after {@link #plan()} (the forward pass, a tier told of new blocks, a
     * bug): the step's sequences that have not ended fail with {@code e}, the others go on. Blocks
     * registered before the failure hold computed KV and stay cached.
     */
    public void failStep(Throwable e) {
        for (int j = 0; j < plan.size(); j++) fail(plan.sequence(j), e);
        plan.clear();
    }

    private void done(Sequence s, GenerationResult result, Throwable failure) {
        s.ended = true;
        finished.add(s);
        s.outcome = result;
        s.failure = failure;
    }

    /**
     * Completes the results of the sequences that finished since the last call. The engine calls
     * it after publishing its stats, so a caller that reads stats after its result sees itself counted.
     */
    public void completeFinished() {
        for (Sequence s : finished) {
            if (s.failure != null) s.result.completeExceptionally(s.failure);
            else s.result.complete(s.outcome);
        }
        finished.clear();
    }

    public EngineStats.SchedulerStats stats() {
        return new EngineStats.SchedulerStats(queued.get(), running.size(), preemptions, steps, promptTokens);
    }

    public EngineStats.PoolStats poolStats(long blockBytes) {
        int cachedIdle = pool.cachedIdle();
        return new EngineStats.PoolStats(blockTokens, blockBytes, pool.capacity(), pool.referenced(), cachedIdle,
                pool.available() - cachedIdle, pool.evictions(), poolHitTokens);
    }

    /**
     * Start-up: restores {@code chains} (each root first) into the pool as cached blocks, so the first
     * requests hit the pool; a chain's blocks the pool already holds are skipped. At most
     * {@code maxBlocks} blocks, and at most half the pool.
     */
    public void prewarm(List<BlockKey[]> chains, int maxBlocks) {
        if (lower == null) return;
        int budget = Math.min(maxBlocks, pool.capacity() / 2);
        List<Integer> held = new ArrayList<>();
        for (BlockKey[] chain : chains) {
            int from = 0;
            while (from < chain.length && pool.lookup(chain[from]) >= 0) from++;
            int n = chain.length - from;
            if (n == 0 || n > budget || pool.available() < n) continue;
            int before = held.size();
            for (int r = 0; r < n; r++) restoreBlocks[r] = pool.allocate();
            int good = lower.restore(chain, from, n, restoreBlocks);
            for (int r = 0; r < n; r++) {
                if (r < good) {
                    pool.register(restoreBlocks[r], chain[from + r], from + r == 0 ? null : chain[from + r - 1]);
                    held.add(restoreBlocks[r]);
                } else {
                    oneBlock[0] = restoreBlocks[r];
                    pool.release(oneBlock, 1);
                }
            }
            budget -= held.size() - before;
        }
        for (int b : held) { // cached, idle: ready to be taken by the first matching prompt
            oneBlock[0] = b;
            pool.release(oneBlock, 1);
        }
    }

    /**
     * The engine is closing: refuses new requests, returns what running sequences have (cancelled)
     * and fails the waiting ones.
     */
    public void shutdown() {
        closed = true;
        for (Sequence s : running) {
            s.blocks.release();
            done(s, s.finish(FinishReason.CANCELLED), null);
        }
        running.clear();
        var notRun = new IllegalStateException("engine closed before the request ran");
        for (Sequence s : waiting) done(s, null, notRun);
        waiting.clear();
        for (Sequence s; (s = incoming.poll()) != null; ) done(s, null, notRun);
        queued.set(0);
        completeFinished();
    }

    /** Marks the scheduler closed (any thread): submit refuses from now on. */
    public void close() {
        closed = true;
    }

    /**
     * The engine cannot go on (failures it cannot survive): refuses new requests and fails everything
     * admitted or waiting with {@code t}, so nobody waits forever.
     */
    public void abort(Throwable t) {
        closed = true;
        for (Sequence s : running) {
            s.blocks.release();
            done(s, null, t);
        }
        running.clear();
        for (Sequence s : waiting) done(s, null, t);
        waiting.clear();
        for (Sequence s; (s = incoming.poll()) != null; ) done(s, null, t);
        queued.set(0);
        completeFinished();
    }
}
