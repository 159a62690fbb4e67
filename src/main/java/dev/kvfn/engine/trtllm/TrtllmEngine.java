package dev.kvfn.engine.trtllm;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.EngineStats;
import dev.kvfn.engine.EngineUnavailableException;
import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.text.CompletionText;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.tier.KvTiers;
import dev.kvfn.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The GPU engine: TensorRT-LLM's executor (in-flight batching, paged KV cache, prefix reuse) behind the same
 * {@link Engine} interface as the CPU engine. {@link #submit} tokenizes nothing and blocks on nothing: it enqueues the
 * prompt through {@link TrtllmExecutor}; one poller thread awaits the executor's streamed responses and turns them into
 * {@link TokenSink} calls through the shared {@link CompletionText} (UTF-8 safe text, stop strings), drains the KV
 * events into kvfn's index ({@link KvEventIndexer}) and publishes the iteration stats. A request's result completes
 * when the executor's final response for it arrives, so a completed request holds nothing native.
 *
 * <p>The executor cannot import KV bytes: TensorRT-LLM keeps the in-flight KV on the GPU (and its own host tier), kvfn's
 * index learns what is cached from the events, and a warm start re-prefills the index's hottest prefixes (context only,
 * high retention priority) before the constructor returns, that is before the replica reports ready.
 */
public final class TrtllmEngine implements Engine {
    private static final System.Logger LOG = System.getLogger(TrtllmEngine.class.getName());
    /** How long one await waits for responses: bounds how late the poller sees a close, not any request. */
    private static final int POLL_MS = 20;

    /**
     * @param contextLength    positions per sequence (prompt + completion)
     * @param prewarmBlocks    blocks of the index's hottest prefixes re-prefilled at start (0: none)
     * @param prewarmPriority  their retention priority (0-100)
     */
    public record Options(int contextLength, int prewarmBlocks, int prewarmPriority) {}

    private final TrtllmExecutor executor;
    private final Tokenizer tokenizer;
    private final ModelInfo model;
    private final Options options;
    private final KvTiers tiers;              // null: no index below the engine
    private final KvEventIndexer indexer;     // null without tiers
    private final Map<Long, Running> running = new ConcurrentHashMap<>();
    private final Object enqueueLock = new Object();
    private final Thread poller;
    private final AtomicLong promptTokens = new AtomicLong();
    private volatile boolean closed;
    private volatile String dead;
    private volatile EngineStats stats = EngineStats.NONE;
    private long reusedTokensSeen; // poller thread

    /**
     * Starts the engine on an executor it now owns (and closes), re-prefilling the hottest prefixes first.
     *
     * @param tiers  kvfn's index below the engine (its format has no bytes), or null
     * @param hasher computes kvfn's block keys for {@code tiers} (model fingerprint and layout); null without tiers
     */
    TrtllmEngine(TrtllmExecutor executor, Tokenizer tokenizer, ModelInfo model, Options options, KvTiers tiers,
                        BlockHasher hasher) {
        this.executor = executor;
        this.tokenizer = tokenizer;
        this.model = model;
        this.options = options;
        this.tiers = tiers;
        this.indexer = tiers == null ? null
                : new KvEventIndexer(tiers, hasher, tiers.format().blockTokens(), executor.tokensPerBlock());
        this.poller = Thread.ofPlatform().name("kvfn-trtllm-poller").daemon().unstarted(this::poll);
        poller.start();
        try {
            prewarm();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Re-prefills the index's hottest unsalted prefixes and waits for them: a warm start before readiness. */
    private void prewarm() {
        if (tiers == null || options.prewarmBlocks() <= 0) return;
        List<int[]> prefixes = tiers.hotPrefixes(options.prewarmBlocks());
        List<CompletableFuture<GenerationResult>> pending = new ArrayList<>();
        for (int[] prefix : prefixes) {
            if (prefix.length + 1 > options.contextLength()) continue;
            pending.add(start(new GenerationRequest(prefix, 1, SamplingParams.GREEDY), TokenSink.NONE, options.prewarmPriority())
                    .result());
        }
        int done = 0;
        for (var f : pending) {
            try {
                f.join();
                done++;
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "re-prefilling a hot prefix failed: " + e.getMessage());
            }
        }
        if (!prefixes.isEmpty()) LOG.log(System.Logger.Level.INFO, "re-prefilled " + done + " of " + prefixes.size()
                + " hot prefixes from kvfn's index before readiness");
    }

    @Override
    public ModelInfo model() {
        return model;
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public Generation submit(GenerationRequest request, TokenSink sink) {
        return start(request, sink, -1);
    }

    private Running start(GenerationRequest request, TokenSink sink, int retentionPriority) {
        String why = dead;
        if (why != null) throw new EngineUnavailableException(why + "; the replica must be restarted", null);
        if (closed) throw new IllegalStateException("engine is closed");
        if (request.constraint() != null) { // the Executor samples on the GPU: no per-step logits mask reaches it
            throw new IllegalArgumentException("structured output (response_format, jsonSchema, forced tool calls) is not "
                    + "available on kvfn.engine=trtllm; use the cpu engine for it");
        }
        int[] prompt = request.promptTokens();
        int limit = request.completionLimit(options.contextLength(), tokenizer.vocabSize());
        SamplingParams p = request.sampling();
        var submission = new TrtllmExecutor.Submission(prompt, limit, tokenizer.eos(), p.greedy() ? 0f : p.temperature(),
                p.greedy() ? 1 : p.topK(), p.topP(), p.minP(), p.seed(), salt(request.cacheSalt()), retentionPriority);
        var r = new Running(request, sink, limit, System.nanoTime());
        if (indexer != null) indexer.submitted(prompt, request.cacheSalt());
        synchronized (enqueueLock) { // the poller looks a fresh id up under this lock: no response can miss its request
            r.id = executor.enqueue(submission);
            running.put(r.id, r);
        }
        promptTokens.addAndGet(prompt.length);
        return r;
    }

    /** TensorRT-LLM's cache salt is a 64-bit id: the first 8 bytes of SHA-256 of kvfn's salt text (0 means none). */
    static long salt(String salt) {
        if (salt == null) return 0;
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(salt.getBytes(StandardCharsets.UTF_8));
            long v = 0;
            for (int i = 0; i < 8; i++) v = v << 8 | (d[i] & 0xff);
            return v == 0 ? 1 : v;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** One request in the executor: its text, its tokens and its result. Touched by the poller, except cancel. */
    private final class Running implements Generation {
        final GenerationRequest request;
        final TokenSink sink;
        final int limit;
        final long submitted;
        final CompletionText text;
        final CompletableFuture<GenerationResult> result = new CompletableFuture<>();
        volatile long id;
        volatile boolean cancelled;
        int[] tokens = new int[16];
        int count;
        long first, last;
        int reused = -1;
        FinishReason reason; // decided here (EOS, stop string, length); the executor may still be finishing
        Throwable failure;

        Running(GenerationRequest request, TokenSink sink, int limit, long submitted) {
            this.request = request;
            this.sink = sink;
            this.limit = limit;
            this.submitted = submitted;
            this.text = new CompletionText(request.stop());
        }

        @Override
        public CompletableFuture<GenerationResult> result() {
            return result;
        }

        @Override
        public void cancel() {
            if (cancelled || result.isDone()) return;
            cancelled = true;
            try {
                executor.cancel(id);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "cancelling request " + id + " failed: " + e.getMessage());
            }
        }

        /** One generated token: text through the shared completion text, to the sink. */
        void emit(int token) {
            if (reason != null || failure != null) return; // decided already: the executor's trailing tokens are not the client's
            last = System.nanoTime();
            if (count == 0) first = last;
            if (count == tokens.length) tokens = Arrays.copyOf(tokens, count * 2);
            tokens[count++] = token;
            String piece = text.accept(tokenizer, token, count == limit);
            reason = text.finishReason();
            try {
                sink.onToken(token, piece);
            } catch (RuntimeException e) {
                failure = e; // the sink's own failure ends this request only
            }
            if (reason == FinishReason.STOP && !cancelled && count < limit) {
                cancelled = true; // a stop string or EOS: the executor need not go on
                executor.cancel(id);
            }
            if (failure != null && !cancelled) {
                cancelled = true;
                executor.cancel(id);
            }
        }

        /** The executor's final response: the request is freed there; its result completes here. */
        void finish(int finishReason, int error, String message) {
            if (error != 0) {
                result.completeExceptionally(new GenerationFailedException("TensorRT-LLM failed this request: " + message, null));
                return;
            }
            if (failure != null) {
                result.completeExceptionally(failure);
                return;
            }
            FinishReason why = reason;
            if (why == null) {
                why = switch (finishReason) {
                    case TrtllmNative.FINISH_END_ID, TrtllmNative.FINISH_STOP_WORDS -> FinishReason.STOP;
                    case TrtllmNative.FINISH_LENGTH -> FinishReason.LENGTH;
                    default -> FinishReason.CANCELLED;
                };
                text.finish(); // what was held back (a cut-off character, a stop-string prefix) is part of the result
            }
            int n = count;
            result.complete(new GenerationResult(text.text(), Arrays.copyOf(tokens, n), request.promptTokens().length,
                    Math.max(0, reused), why, n == 0 ? 0 : first - submitted, n == 0 ? 0 : last - first));
        }
    }

    // ---- the poller ----------------------------------------------------------------------------

    private void poll() {
        int failures = 0;
        while (!closed) {
            try {
                executor.await(POLL_MS, this::onResponse);
                if (indexer != null) executor.drainEvents(0, indexer);
                publishStats();
                failures = 0;
            } catch (Throwable t) {
                if (closed) break;
                if (++failures >= 16) {
                    die(t);
                    return;
                }
                LOG.log(System.Logger.Level.ERROR, "TensorRT-LLM poller iteration failed (" + failures + " in a row)", t);
            }
        }
    }

    private void onResponse(long id, int[] tokens, int from, int count, boolean isFinal, int finishReason, int error, String message,
                            int reusedTokens) {
        Running r = running.get(id);
        if (r == null) {
            synchronized (enqueueLock) {
                r = running.get(id);
            }
            if (r == null) return; // not ours (cannot happen: every id comes from start)
        }
        if (r.reused < 0 && reusedTokens >= 0) {
            r.reused = reusedTokens;
            reusedTokensSeen += reusedTokens;
            if (indexer != null && reusedTokens > 0) indexer.hit(r.request.promptTokens(), r.request.cacheSalt(), reusedTokens);
        }
        for (int i = from; i < from + count; i++) r.emit(tokens[i]);
        if (isFinal) {
            running.remove(id);
            r.finish(finishReason, error, message);
        }
    }

    private void publishStats() {
        TrtllmExecutor.Stats s = executor.stats();
        if (s == null) return;
        var scheduler = new EngineStats.SchedulerStats(s.queued(), s.active(), 0, s.iterations(), promptTokens.get());
        var pool = new EngineStats.PoolStats(s.tokensPerBlock(), 0, (int) Math.min(Integer.MAX_VALUE, s.maxBlocks()),
                (int) Math.min(Integer.MAX_VALUE, s.usedBlocks()), 0, (int) Math.max(0, Math.min(Integer.MAX_VALUE, s.freeBlocks())), 0,
                reusedTokensSeen);
        stats = new EngineStats(scheduler, pool, List.of());
    }

    private void die(Throwable t) {
        String why = "the TensorRT-LLM poller stopped after repeated failures, the last: " + t;
        dead = why;
        LOG.log(System.Logger.Level.ERROR, why + "; new requests are refused and liveness reports DOWN", t);
        var down = new EngineUnavailableException(why, t);
        for (Running r : running.values()) r.result.completeExceptionally(down);
        running.clear();
    }

    @Override
    public EngineStats stats() {
        EngineStats s = stats;
        return tiers == null ? s : new EngineStats(s.scheduler(), s.pool(), tiers.stats());
    }

    /** Requests the executor still holds (their final response has not arrived). */
    int inFlight() {
        return running.size();
    }

    @Override
    public String failure() {
        String d = dead;
        if (d == null && !closed && !poller.isAlive()) return "the TensorRT-LLM poller thread has ended";
        return d;
    }

    @Override
    public boolean persist(Duration timeout) throws InterruptedException {
        return tiers == null || tiers.flush(timeout);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            poller.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        executor.close(); // shuts the executor down: what it held is freed
        var gone = new EngineUnavailableException("the engine closed before this request finished", null);
        for (Running r : running.values()) r.result.completeExceptionally(gone);
        running.clear();
        if (indexer != null) indexer.logSummary();
        if (tiers != null) tiers.close();
    }
}
