package dev.kvfn.engine.cpu;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.EngineStats;
import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.QueueFullException;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.BlockPool;
import dev.kvfn.kv.HostStore;
import dev.kvfn.kv.HostStoreOptions;
import dev.kvfn.kv.HostTier;
import dev.kvfn.kv.RemoteKvTier;
import dev.kvfn.kv.KvLayout;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.Llama2cCheckpoint;
import dev.kvfn.model.ModelFingerprint;
import dev.kvfn.model.ModelFormatException;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The pure-Java engine: one model, one paged KV pool, one scheduler thread that runs continuous
 * batching. Each step it admits waiting requests while the pool has blocks for them (taking the
 * longest cached prefix of full blocks first), then builds one batch of token rows — one decode
 * row for every sequence that has sampled its last token, then prompt chunks under the step's token
 * budget (chunked prefill) — and runs it as one forward pass, so each weight matrix is streamed
 * once per step for all sequences. When a decoding sequence needs a block and none is free, the
 * newest sequence is preempted: its blocks are released (full ones stay cached) and it is re-queued
 * first in line, to be recomputed from its prompt plus what it has generated. Tokens stream to each
 * request's sink from the scheduler thread.
 */
public final class CpuEngine implements Engine {
    private final ModelInfo info;
    private final Tokenizer tokenizer;
    private final LlamaConfig config;
    private final WorkerPool workers;
    private final Transformer transformer;
    private final BlockPool pool;
    private final BlockHasher hasher;
    private final HostTier hostTier;        // null: no host store
    private final RemoteKvTier remote;      // null: no Redis
    private final java.util.concurrent.ExecutorService restorer; // remote lookups, off the compute loop
    private final ThreadLocal<BlockHasher> restoreHasher;
    private final ModelFingerprint fingerprint;
    private final EngineOptions options;
    private final Sampler sampler;
    private final AutoCloseable mapping;
    private final int blockTokens;
    private final int stepBudget;

    private final LinkedBlockingQueue<Sequence> incoming = new LinkedBlockingQueue<>();
    private final AtomicInteger queued = new AtomicInteger(); // incoming + waiting, for the queue limit
    private final Thread thread;
    private volatile boolean closed;
    private volatile EngineStats stats = EngineStats.NONE;
    private volatile long[] counters = new long[4]; // host hit tokens, remote hit tokens, host restores, host restore nanos

    // scheduler state: touched only by the scheduler thread
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final ArrayList<Sequence> running = new ArrayList<>();
    private final ArrayList<Sequence> finished = new ArrayList<>(); // completed this step, handed out after publishStats
    private final Transformer.StepBatch batch;
    private final Sequence[] stepSeqs;
    private final int[] stepRows;   // rows each scheduled sequence got this step
    private final int[] stepLogit;  // its logit row, or -1
    private final float[] rowLogits;
    private final int[] hitBlocks;
    private final int[] restoreBlocks, oneBlock = new int[1];
    private final BlockKey[] restoreKeys;
    private final boolean[] restoreOk;
    private final int[] restoreSlots, restoreCrcs;
    private final long[] restoreGenerations;
    private final WorkerPool.RangeTask restoreTask = this::restoreRange;
    private final java.util.concurrent.atomic.AtomicInteger restoreCursor = new java.util.concurrent.atomic.AtomicInteger();
    private volatile int restoreCount;
    private int stepCount;
    private long preemptions, steps, promptTokensIn, poolHitTokens, hostHitTokens, remoteHitTokens, hostRestores, hostRestoreNanos;

    private CpuEngine(ModelInfo info, Tokenizer tokenizer, LlamaConfig config, LlamaWeights weights, WorkerPool workers,
                      AutoCloseable mapping, ModelFingerprint fingerprint, long modelBytes, EngineOptions options) {
        if (tokenizer.vocabSize() != config.vocab()) {
            throw new IllegalArgumentException(info.source() + ": the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the model's vocabulary is " + config.vocab());
        }
        this.info = info;
        this.tokenizer = tokenizer;
        this.config = config;
        this.workers = workers;
        this.options = options;
        this.fingerprint = fingerprint;
        this.stepBudget = Math.min(options.maxStepTokens(), Transformer.DEFAULT_MAX_CHUNK * 4);
        this.transformer = new Transformer(config, weights, workers, stepBudget);
        KvLayout layout = new KvLayout(config.layers(), config.kvHeads(), config.headSize(), options.blockTokens(), options.kvType());
        this.blockTokens = layout.blockTokens();
        this.pool = BlockPool.ofBytes(layout, poolBytes(options, layout, config.contextLength(), modelBytes));
        this.hasher = new BlockHasher(fingerprint.digest(), layout);
        HostStoreOptions host = options.hostStore();
        if (host != null) {
            HostStore store = HostStore.open(host.directory().resolve(fingerprint.shortHex()), fingerprint.digest(), layout, host.bytes());
            this.hostTier = new HostTier(store, pool, host.policy(), host.queueBlocks());
            pool.setListener(hostTier);
        } else {
            this.hostTier = null;
        }
        this.remote = options.remote();
        if (remote != null) {
            remote.attach(fingerprint.shortHex(), layout);
            hostTier.onPublished(remote::publish);
            this.restorer = java.util.concurrent.Executors.newSingleThreadExecutor(
                    Thread.ofPlatform().daemon().name("kvfn-kv-restore").factory());
            this.restoreHasher = ThreadLocal.withInitial(() -> new BlockHasher(fingerprint.digest(), layout));
        } else {
            this.restorer = null;
            this.restoreHasher = null;
        }
        this.sampler = new Sampler(config.vocab());
        this.mapping = mapping;
        int maxSeqs = options.maxSeqs();
        this.batch = new Transformer.StepBatch(stepBudget, maxSeqs, config.vocab());
        this.stepSeqs = new Sequence[maxSeqs];
        this.stepRows = new int[maxSeqs];
        this.stepLogit = new int[maxSeqs];
        this.rowLogits = new float[config.vocab()];
        this.hitBlocks = new int[blocksFor(config.contextLength())];
        this.restoreBlocks = new int[hitBlocks.length];
        this.restoreKeys = new BlockKey[hitBlocks.length];
        this.restoreOk = new boolean[hitBlocks.length];
        this.restoreSlots = new int[hitBlocks.length];
        this.restoreCrcs = new int[hitBlocks.length];
        this.restoreGenerations = new long[hitBlocks.length];
        if (host != null && host.prewarmBlocks() > 0) {
            if (remote != null) prewarmFromRemote(Math.min(host.prewarmBlocks(), pool.capacity() / 2));
            prewarm(host.prewarmBlocks());
        }
        publishStats();
        this.thread = Thread.ofPlatform().name("kvfn-cpu-engine").daemon().unstarted(this::serve);
        this.thread.start();
    }

    /**
     * The pool size: {@code kvfn.kv.pool-bytes} when set; otherwise enough for {@code maxSeqs}
     * sequences at full context, capped at {@code poolMemoryFraction} of the physical memory left
     * after the model file and the Java heap (the pool is off-heap), and at least one full-context
     * sequence's worth when that fits.
     */
    static long poolBytes(EngineOptions o, KvLayout layout, int contextLength, long modelBytes) {
        if (o.poolBytes() > 0) return o.poolBytes();
        long perSequence = (long) ((contextLength + layout.blockTokens() - 1) / layout.blockTokens()) * layout.blockBytes();
        long wanted = perSequence * o.maxSeqs();
        long physical = physicalMemory();
        long left = Math.max(0, physical - modelBytes - Runtime.getRuntime().maxMemory());
        long cap = (long) (left * o.poolMemoryFraction());
        return Math.max(layout.blockBytes(), Math.min(wanted, Math.max(cap, Math.min(perSequence, left))));
    }

    private static long physicalMemory() {
        try {
            if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
                return os.getTotalMemorySize();
            }
        } catch (RuntimeException | LinkageError e) {
            // fall through: no management bean (some native images)
        }
        return 8L << 30;
    }

    /** Loads with default options (see {@link EngineOptions#defaults}). */
    public static CpuEngine load(Path model, Path tokenizerOrNull, int threads) {
        return load(model, tokenizerOrNull, EngineOptions.defaults(threads));
    }

    /** As {@link #load(Path, Path, int)}, with the context cut to {@code contextLimit} positions (bounds KV memory). */
    public static CpuEngine load(Path model, Path tokenizerOrNull, int threads, int contextLimit) {
        return load(model, tokenizerOrNull, EngineOptions.defaults(threads).withContextLimit(contextLimit));
    }

    /**
     * Loads a GGUF or llama2.c model, told apart by the GGUF magic. A llama2.c checkpoint needs its
     * {@code tokenizer.bin}; for a GGUF a non-null {@code tokenizerOrNull} (llama2.c format) replaces
     * the embedded vocabulary.
     */
    public static CpuEngine load(Path model, Path tokenizerOrNull, EngineOptions options) {
        if (isGguf(model)) {
            GgufFile gguf = GgufFile.open(model);
            try {
                Tokenizer tok = tokenizerOrNull == null ? Tokenizers.fromGguf(gguf) : Llama2cTokenizer.load(tokenizerOrNull);
                return create(gguf, model.toString(), tok, options);
            } catch (RuntimeException e) {
                gguf.close();
                throw e;
            }
        }
        if (tokenizerOrNull == null) {
            throw new IllegalArgumentException(model + ": a llama2.c checkpoint needs its tokenizer.bin; none was given (kvfn.model.tokenizer / KVFN_MODEL_TOKENIZER)");
        }
        Llama2cTokenizer tok = Llama2cTokenizer.load(tokenizerOrNull);
        Llama2cCheckpoint checkpoint = Llama2cCheckpoint.open(model);
        WorkerPool workers = new WorkerPool(options.threads());
        try {
            LlamaConfig config = LlamaConfig.fromLlama2c(checkpoint.header()).withContextLength(options.contextLimit());
            LlamaWeights weights = LlamaWeights.load(config, checkpoint.tensors(), model, workers);
            String name = model.getFileName().toString();
            var info = new ModelInfo(name, model.toString(), "llama", config.contextLength(), config.vocab());
            return new CpuEngine(info, tok, config, weights, workers, checkpoint, ModelFingerprint.of(model), fileSize(model), options);
        } catch (RuntimeException e) {
            workers.close();
            checkpoint.close();
            throw e;
        }
    }

    /** An engine over an already-open GGUF with its own vocabulary; the engine closes {@code gguf}. */
    public static CpuEngine fromGguf(GgufFile gguf, String source, int threads) {
        return fromGguf(gguf, source, Tokenizers.fromGguf(gguf), threads);
    }

    /** An engine over an already-open GGUF with the given tokenizer; the engine closes {@code gguf}. */
    public static CpuEngine fromGguf(GgufFile gguf, String source, Tokenizer tokenizer, int threads) {
        return create(gguf, source, tokenizer, EngineOptions.defaults(threads));
    }

    private static CpuEngine create(GgufFile gguf, String source, Tokenizer tokenizer, EngineOptions options) {
        LlamaConfig config = LlamaConfig.fromGguf(gguf).withContextLength(options.contextLimit());
        WorkerPool workers = new WorkerPool(options.threads());
        try {
            LlamaWeights weights = LlamaWeights.load(config, gguf.tensors(), gguf.path(), workers);
            String name = gguf.string("general.name", String.valueOf(gguf.path().getFileName()));
            var info = new ModelInfo(name, source, "llama", config.contextLength(), config.vocab());
            return new CpuEngine(info, tokenizer, config, weights, workers, gguf, ModelFingerprint.of(gguf.path()),
                    fileSize(gguf.path()), options);
        } catch (RuntimeException e) {
            workers.close();
            throw e;
        }
    }

    private static long fileSize(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }

    private static boolean isGguf(Path model) {
        byte[] head = new byte[4];
        try (InputStream in = Files.newInputStream(model)) {
            if (in.readNBytes(head, 0, 4) < 4) throw new ModelFormatException(model, "file too short to be a model (" + Files.size(model) + " bytes)");
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(model, "no such file", e);
        } catch (IOException e) {
            throw new ModelFormatException(model, "cannot read model: " + e, e);
        }
        return ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt() == GgufFile.MAGIC;
    }

    @Override
    public ModelInfo model() { return info; }

    @Override
    public Tokenizer tokenizer() { return tokenizer; }

    public LlamaConfig config() { return config; }

    public EngineOptions options() { return options; }

    public ModelFingerprint fingerprint() { return fingerprint; }

    public KvLayout kvLayout() { return pool.layout(); }

    /** The scheduler's last snapshot, with the tiers below the pool read live (their writers are other threads). */
    @Override
    public EngineStats stats() {
        EngineStats s = stats;
        if (hostTier == null) return s;
        long[] c = counters;
        HostStore.HostStoreStats h = hostTier.store().stats();
        var host = new dev.kvfn.engine.TierStats("host", h.blocks(), h.slots(), c[0], h.writes(), h.evictions(), h.faults() + h.writeErrors(),
                hostTier.dropped(), h.restoredBytes(), c[2], c[3], hostTier.spilledBytes(), hostTier.spillNanos());
        java.util.List<dev.kvfn.engine.TierStats> tiers;
        if (remote != null) {
            RemoteKvTier.RemoteStats r = remote.stats();
            tiers = java.util.List.of(host, new dev.kvfn.engine.TierStats(r.tier(), -1, -1, c[1], r.published(), 0,
                    r.faults() + r.errors() + r.timeouts(), r.publishDropped(), r.restoredBytes(), r.hitBlocks(), r.restoreNanos(),
                    r.publishedBytes(), 0));
        } else {
            tiers = java.util.List.of(host);
        }
        return new EngineStats(s.waiting(), s.running(), s.preemptions(), s.blocksTotal(), s.blocksReferenced(), s.blocksCached(),
                s.blocksFree(), s.evictions(), s.blockTokens(), s.blockBytes(), s.steps(), s.promptTokens(), s.poolHitTokens(), tiers);
    }

    /** The KV pool; touch it only while the engine is idle (tests check its accounting). */
    BlockPool pool() { return pool; }

    private int blocksFor(int positions) {
        return (positions + blockTokens - 1) / blockTokens;
    }

    @Override
    public Generation submit(GenerationRequest request, TokenSink sink) {
        if (closed) throw new IllegalStateException("engine is closed");
        int[] prompt = request.promptTokens();
        if (prompt.length >= config.contextLength()) {
            throw new IllegalArgumentException("prompt has " + prompt.length + " tokens but the context holds "
                    + config.contextLength() + " (prompt plus at least one completion token)");
        }
        for (int t : prompt) {
            if (t < 0 || t >= config.vocab()) {
                throw new IllegalArgumentException("prompt token id " + t + " is outside the vocabulary of " + config.vocab());
            }
        }
        for (String s : request.stop()) {
            if (s == null || s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        }
        int limit = Math.min(request.maxTokens(), config.contextLength() - prompt.length);
        int blocks = blocksFor(prompt.length + limit);
        if (blocks > pool.capacity()) {
            throw new IllegalArgumentException("prompt plus max tokens (" + (prompt.length + limit) + " positions) need " + blocks
                    + " KV blocks but the pool holds " + pool.capacity() + " (kvfn.kv.pool-bytes); send a shorter request");
        }
        if (queued.incrementAndGet() > options.maxQueue()) {
            queued.decrementAndGet();
            throw new QueueFullException("the engine's queue already holds " + options.maxQueue()
                    + " waiting requests (kvfn.scheduler.max-queue); retry shortly", 1);
        }
        var seq = new Sequence(request, sink == null ? TokenSink.NONE : sink, limit, System.nanoTime());
        if (restorer != null) {
            try {
                restorer.execute(() -> {
                    fetchRemote(seq);
                    incoming.add(seq);
                    if (closed && incoming.remove(seq)) seq.result.completeExceptionally(new IllegalStateException("engine is closed"));
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                queued.decrementAndGet();
                throw new IllegalStateException("engine is closed");
            }
            return seq;
        }
        incoming.add(seq);
        if (closed && incoming.remove(seq)) {
            queued.decrementAndGet();
            seq.result.completeExceptionally(new IllegalStateException("engine is closed"));
        }
        return seq;
    }

    // ---- the scheduler loop --------------------------------------------------------------------

    private void serve() {
        try {
            while (!closed) {
                if (running.isEmpty() && waiting.isEmpty()) {
                    publishStats(); // idle: what cancellations and the last step left
                    completeDone();
                    Sequence s;
                    try {
                        s = incoming.take();
                    } catch (InterruptedException e) {
                        break;
                    }
                    waiting.add(s);
                }
                for (Sequence s; (s = incoming.poll()) != null; ) waiting.add(s);
                reapCancelled();
                admit();
                if (!buildStep()) {
                    publishStats();
                    completeDone();
                    continue;
                }
                try {
                    transformer.forward(batch);
                } catch (RuntimeException | Error e) {
                    failStep(e);
                    continue;
                }
                steps++;
                finishStep();
                publishStats();
                completeDone();
            }
        } catch (Throwable t) {
            // A bug in the scheduler must not leave callers waiting forever.
            for (Sequence s : running) s.result.completeExceptionally(t);
            for (Sequence s : waiting) s.result.completeExceptionally(t);
            running.clear();
            waiting.clear();
        }
        for (Sequence s : running) {
            s.store.release();
            s.result.complete(s.finish(FinishReason.CANCELLED));
        }
        running.clear();
        for (Sequence s : waiting) s.result.completeExceptionally(new IllegalStateException("engine closed before the request ran"));
        for (Sequence s; (s = incoming.poll()) != null; ) {
            s.result.completeExceptionally(new IllegalStateException("engine closed before the request ran"));
        }
        publishStats();
        completeDone();
    }

    /** Cancelled sequences leave at the start of a step, releasing their blocks. */
    private void reapCancelled() {
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence s = running.get(i);
            if (s.cancelled) {
                running.remove(i);
                s.store.release();
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

    /** Admits waiting sequences, first in line first, while there are slots and blocks. */
    private void admit() {
        while (running.size() < options.maxSeqs() && !waiting.isEmpty()) {
            Sequence s = waiting.peekFirst();
            // Longest chain of cached full blocks, leaving at least one token to compute (its logits start decoding).
            int hits = 0;
            if (options.prefixCaching()) {
                int maxHits = (s.length - 1) / blockTokens;
                while (hits < maxHits) {
                    int b = pool.lookup(s.key(hits, hasher));
                    if (b < 0) break;
                    hitBlocks[hits++] = b;
                }
            }
            // Below the pool: the blocks that follow in the host store (restored by copy, checksum verified).
            int restorable = 0;
            if (hostTier != null && options.prefixCaching()) {
                int maxHits = (s.length - 1) / blockTokens;
                while (hits + restorable < maxHits && hostTier.contains(s.key(hits + restorable, hasher))) restorable++;
            }
            int idleHits = 0;
            for (int i = 0; i < hits; i++) if (pool.refCount(hitBlocks[i]) == 0) idleHits++;
            int needed = blocksFor(Math.min(s.length + 1, s.maxLength())) - hits;
            if (pool.available() - idleHits < needed) return; // wait for running sequences to free blocks
            waiting.pollFirst();
            queued.decrementAndGet();
            for (int i = 0; i < hits; i++) {
                pool.take(hitBlocks[i]);
                s.store.append(hitBlocks[i]);
            }
            int poolHits = hits;
            long restoreStart = restorable > 0 ? System.nanoTime() : 0;
            if (restorable > 0) {
                // Plan under the store's lock, copy and verify on every compute thread (idle between steps), settle.
                workers.wake(); // parked since the last step: their wake-up overlaps the hashing and the plan
                for (int r = 0; r < restorable; r++) restoreKeys[r] = s.key(hits + r, hasher);
                int planned = hostTier.plan(restoreKeys, restorable, restoreSlots, restoreGenerations, restoreCrcs);
                for (int r = 0; r < planned; r++) {
                    restoreBlocks[r] = pool.allocate(); // cannot fail: counted in `needed`; never one of the hits just taken
                }
                restoreCount = planned;
                restoreCursor.set(0);
                workers.forRange(planned, restoreTask);
                int good = hostTier.commit(restoreKeys, planned, restoreSlots, restoreGenerations, restoreOk);
                for (int r = 0; r < planned; r++) {
                    if (r < good) {
                        pool.registerRestored(restoreBlocks[r], restoreKeys[r], hits == 0 ? null : s.key(hits - 1, hasher));
                        s.store.append(restoreBlocks[r]);
                        hits++;
                    } else {
                        oneBlock[0] = restoreBlocks[r];
                        pool.release(oneBlock, 1);
                    }
                }
                java.util.Arrays.fill(restoreKeys, 0, restorable, null);
            }
            if (restorable > 0) {
                hostRestores += hits - poolHits;
                hostRestoreNanos += System.nanoTime() - restoreStart;
            }
            s.computed = hits * blockTokens;
            s.hashed = hits;
            if (!s.admitted) {
                s.cachedTokens = s.computed;
                promptTokensIn += s.promptLength;
                poolHitTokens += (long) poolHits * blockTokens;
                for (int i = poolHits; i < hits; i++) {
                    if (i >= s.remoteFrom && i < s.remoteFrom + s.remoteCount) remoteHitTokens += blockTokens;
                    else hostHitTokens += blockTokens;
                }
                if (remote != null && hits > 0) remote.hit(s.key(hits - 1, hasher));
            }
            s.admitted = true;
            running.add(s);
        }
    }

    /**
     * Fills the step batch: a decode row for every sequence with one token pending (preempting the
     * newest sequence when one needs a block and the pool is out), then prompt chunks in admission
     * order under the token budget. Returns false when there is nothing to run.
     */
    private boolean buildStep() {
        batch.clear();
        stepCount = 0;
        int n = 0, budget = stepBudget;
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
            n = schedule(n, s, 1);
            budget--;
        }
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            int pending = s.length - s.computed;
            if (pending <= 1) continue;
            int rows = Math.min(pending, budget);
            grow(s, s.computed + rows); // takes what blocks there are; never preempts (rows above may use them)
            rows = Math.min(rows, s.store.capacity() - s.computed);
            if (rows <= 0) continue;
            n = schedule(n, s, rows);
            budget -= rows;
        }
        stepCount = n;
        if (n == 0 && running.size() > 1) {
            // Every sequence is stuck mid-prompt holding blocks the others need: free the newest.
            preempt(running.getLast());
            return false;
        }
        return n > 0;
    }

    private int schedule(int n, Sequence s, int rows) {
        boolean logits = s.computed + rows == s.length;
        for (int r = 0; r < rows; r++) {
            int pos = s.computed + r;
            batch.add(s.tokens[pos], pos, s.store, logits && r == rows - 1);
        }
        stepSeqs[n] = s;
        stepRows[n] = rows;
        stepLogit[n] = logits ? batch.logitCount() - 1 : -1;
        return n + 1;
    }

    /** Appends blocks until {@code s} holds {@code positions}; false when the pool ran out first. */
    private boolean grow(Sequence s, int positions) {
        while (s.store.capacity() < positions) {
            int b = pool.allocate();
            if (b < 0) return false;
            s.store.append(b);
        }
        return true;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        s.store.release();
        s.computed = 0;
        s.hashed = 0;
        waiting.addFirst(s);
        queued.incrementAndGet();
        preemptions++;
    }

    private void finishStep() {
        int scheduled = stepCount;
        stepCount = 0;
        for (int j = 0; j < scheduled; j++) {
            Sequence s = stepSeqs[j];
            stepSeqs[j] = null;
            s.computed += stepRows[j];
            if (options.prefixCaching()) {
                for (int full = s.computed / blockTokens; s.hashed < full; s.hashed++) {
                    int block = s.store.block(s.hashed);
                    if (pool.key(block) == null) {
                        pool.register(block, s.key(s.hashed, hasher), s.hashed == 0 ? null : s.key(s.hashed - 1, hasher));
                    }
                }
            }
            if (stepLogit[j] < 0) continue;
            System.arraycopy(batch.logits(), batch.logitOffset(stepLogit[j]), rowLogits, 0, rowLogits.length);
            boolean done;
            try {
                done = s.emit(sampler.sample(rowLogits, s.request.sampling(), s.rng), tokenizer);
            } catch (RuntimeException e) { // a failing sink (or non-finite logits) fails its own request only
                running.remove(s);
                s.store.release();
                done(s, null, e);
                continue;
            }
            if (done) {
                running.remove(s);
                s.store.release();
                done(s, s.finish(s.reason), null);
            }
        }
    }

    /** A step that threw (a bug or an out-of-memory): its sequences fail, the others go on. */
    private void failStep(Throwable e) {
        int scheduled = stepCount;
        stepCount = 0;
        for (int j = 0; j < scheduled; j++) {
            Sequence s = stepSeqs[j];
            stepSeqs[j] = null;
            running.remove(s);
            s.store.release();
            done(s, null, e);
        }
        publishStats();
        completeDone();
    }

    /**
     * On the restore thread, before the scheduler sees the sequence: the full blocks of its prompt
     * that neither the host store nor (we assume, since write-through keeps them in step) the pool
     * holds are looked up in the remote tier and copied into the host store, so admission restores
     * them by memcpy. Bounded by the remote's deadline; any failure just means they are computed.
     */
    private void fetchRemote(Sequence s) {
        if (!options.prefixCaching()) return;
        try {
            BlockHasher h = restoreHasher.get();
            int maxHits = (s.length - 1) / blockTokens;
            int from = 0;
            while (from < maxHits && hostTier.contains(s.key(from, h))) from++;
            if (from == maxHits) return;
            BlockKey[] keys = new BlockKey[maxHits];
            for (int i = 0; i < maxHits; i++) keys[i] = s.key(i, h);
            s.remoteFrom = from;
            s.remoteCount = remote.restoreInto(keys, from, maxHits, hostTier.store());
        } catch (RuntimeException e) {
            s.remoteCount = 0; // the remote tier never fails a request
        }
    }

    /**
     * Start-up, before {@link #prewarm}: the hottest chains in the remote tier that the host store lacks
     * are fetched into it (a new replica's empty store, or one that missed them), so prewarm finds them
     * as its most recent blocks. Bounded by the remote's deadlines; a failure only means fewer are warm.
     */
    private void prewarmFromRemote(int maxBlocks) {
        HostStore store = hostTier.store();
        try {
            for (BlockKey[] chain : remote.hotChains(maxBlocks)) {
                int from = 0;
                while (from < chain.length && store.contains(chain[from])) from++;
                if (from < chain.length) remote.restoreInto(chain, from, chain.length, store);
            }
        } catch (RuntimeException e) {
            // the remote tier never fails a start-up
        }
    }

    /**
     * Start-up: copies the most recently used blocks of the host store, with every parent up to
     * their chain's root, into the pool as cached blocks, so the first requests after a restart hit
     * the pool. At most {@code maxBlocks}, and at most half the pool.
     */
    private void prewarm(int maxBlocks) {
        HostStore store = hostTier.store();
        java.util.List<BlockKey> recent = store.keysByRecency();
        int budget = Math.min(maxBlocks, pool.capacity() / 2);
        java.util.ArrayList<int[]> held = new java.util.ArrayList<>();
        for (int i = recent.size() - 1; i >= 0 && budget > 0; i--) {
            java.util.ArrayDeque<BlockKey> chain = new java.util.ArrayDeque<>();
            for (BlockKey k = recent.get(i); k != null && pool.lookup(k) < 0; k = store.parent(k)) chain.push(k);
            if (chain.size() > budget || chain.isEmpty()) continue;
            BlockKey parent = chain.peek() == null ? null : store.parent(chain.peek());
            if (parent != null && pool.lookup(parent) < 0) continue; // its root is gone from the store: unusable
            for (BlockKey k : chain) {
                int b = pool.allocate();
                if (b < 0 || !hostTier.restore(k, b)) {
                    if (b >= 0) pool.release(new int[]{b}, 1);
                    break;
                }
                pool.registerRestored(b, k, parent);
                held.add(new int[]{b});
                parent = k;
                budget--;
            }
        }
        for (int[] b : held) pool.release(b, 1); // cached, idle: ready to be taken by the first matching prompt
    }

    /** Where the host store is and what opening it found ({@code created}, {@code attached}, ...), or null without one. */
    public String hostStoreDescription() {
        if (hostTier == null) return null;
        HostStore st = hostTier.store();
        return st.file() + " (" + st.openOutcome() + ", " + st.size() + " of " + st.capacity() + " blocks, policy "
                + hostTier.policy().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-') + ")";
    }

    @Override
    public boolean persist(java.time.Duration timeout) throws InterruptedException {
        return flushHostStore(timeout.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
    }

    /** Waits until every block queued for the host store is written and the store is synced (tests, shutdown). */
    public boolean flushHostStore(long timeout, java.util.concurrent.TimeUnit unit) throws InterruptedException {
        return hostTier == null || hostTier.flush(timeout, unit);
    }

    /**
     * Worker-thread body of a host restore. Threads take blocks one at a time from a shared cursor rather
     * than fixed halves, so a thread the OS delays does not hold the others up.
     */
    private void restoreRange(int from, int to) {
        for (int i; (i = restoreCursor.getAndIncrement()) < restoreCount; ) {
            restoreOk[i] = hostTier.copyVerified(restoreSlots[i], restoreCrcs[i], restoreBlocks[i]);
        }
    }

    /**
     * Results are handed out only after the step's stats are published, so a caller that reads
     * {@link #stats()} after its result sees its own request counted.
     */
    private void done(Sequence s, GenerationResult result, Throwable failure) {
        finished.add(s);
        s.outcome = result;
        s.failure = failure;
    }

    private void completeDone() {
        for (Sequence s : finished) {
            if (s.failure != null) s.result.completeExceptionally(s.failure);
            else s.result.complete(s.outcome);
        }
        finished.clear();
    }

    private void publishStats() {
        int cachedIdle = pool.cachedIdle();
        counters = new long[]{hostHitTokens, remoteHitTokens, hostRestores, hostRestoreNanos};
        stats = new EngineStats(queued.get(), running.size(), preemptions, pool.capacity(), pool.referenced(), cachedIdle,
                pool.available() - cachedIdle, pool.evictions(), blockTokens, pool.blockBytes(), steps, promptTokensIn, poolHitTokens,
                java.util.List.of());
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (restorer != null) restorer.shutdownNow();
        workers.close();
        if (hostTier != null) hostTier.close(); // flushes what is queued, syncs the file
        if (remote != null) remote.close();
        pool.close();
        try {
            mapping.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing the model mapping of " + info.source() + " failed", e);
        }
    }

    /** One request as the scheduler tracks it: its tokens so far, its blocks, its output. */
    private final class Sequence implements Generation {
        final GenerationRequest request;
        final TokenSink sink;
        final long submitted;
        final int promptLength, limit;
        final int[] tokens; // prompt then generated
        int length;         // tokens[0 .. length) are known; [0 .. computed) have KV in the store
        int computed;
        int hashed;         // full blocks already registered (or taken from the cache)
        int cachedTokens;
        boolean admitted;
        final PagedKvStore store;
        final SplittableRandom rng;
        final CompletionText text;
        private BlockKey[] keys = new BlockKey[4];
        private int keyCount;
        long first, last;
        FinishReason reason;
        GenerationResult outcome;
        Throwable failure;
        final CompletableFuture<GenerationResult> result = new CompletableFuture<>();
        volatile boolean cancelled;

        Sequence(GenerationRequest request, TokenSink sink, int limit, long submitted) {
            this.request = request;
            this.sink = sink;
            this.submitted = submitted;
            this.promptLength = request.promptTokens().length;
            this.limit = limit;
            this.tokens = Arrays.copyOf(request.promptTokens(), promptLength + limit);
            this.length = promptLength;
            this.store = new PagedKvStore(pool, promptLength + limit);
            this.rng = Sampler.random(request.sampling());
            this.text = new CompletionText(request.stop());
        }

        int maxLength() {
            return promptLength + limit;
        }

        int remoteFrom, remoteCount; // blocks the restore thread brought from the remote tier into the host store

        /** The key of full block {@code i}, computed once along the chain (with the calling thread's hasher). */
        BlockKey key(int i, BlockHasher hasher) {
            while (keyCount <= i) {
                if (keyCount == keys.length) keys = Arrays.copyOf(keys, keys.length * 2);
                BlockKey parent = keyCount == 0 ? null : keys[keyCount - 1];
                keys[keyCount] = hasher.key(parent, request.cacheSalt(), tokens, keyCount * blockTokens, blockTokens);
                keyCount++;
            }
            return keys[i];
        }

        /** Records a sampled token and streams its text; returns true when the sequence is done. */
        boolean emit(int token, Tokenizer tokenizer) {
            last = System.nanoTime();
            int n = length - promptLength;
            if (n == 0) first = last;
            tokens[length++] = token;
            n++;
            String piece;
            if (tokenizer.isEndOfGeneration(token)) {
                reason = FinishReason.STOP;
                piece = text.finish();
            } else {
                piece = text.append(tokenizer.tokenBytes(token));
                if (text.stopped()) reason = FinishReason.STOP;
                else if (n == limit) {
                    reason = FinishReason.LENGTH;
                    piece += text.finish();
                }
            }
            sink.onToken(token, piece);
            return reason != null;
        }

        GenerationResult finish(FinishReason why) {
            if (why == FinishReason.CANCELLED) text.finish();
            int n = length - promptLength;
            return new GenerationResult(text.text(), Arrays.copyOfRange(tokens, promptLength, length), promptLength,
                    cachedTokens, why, n == 0 ? 0 : first - submitted, n == 0 ? 0 : last - first);
        }

        @Override
        public CompletableFuture<GenerationResult> result() {
            return result;
        }

        @Override
        public void cancel() {
            cancelled = true;
        }
    }
}
