package dev.kvfn.engine.trtllm;

import dev.kvfn.engine.EngineUnavailableException;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.QueueFullException;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import static dev.kvfn.engine.trtllm.TrtllmNative.*;

/**
 * One TensorRT-LLM executor behind kvfn's C ABI: the only class that calls {@link TrtllmNative}. It owns the native
 * handle and the buffers the poller reuses, and turns status codes into exceptions carrying the native message.
 * {@link #enqueue} and {@link #cancel} may come from any thread; {@link #await}, {@link #drainEvents} and
 * {@link #stats} from one poller thread only (they share its buffers). {@link #close} waits for calls in progress.
 */
final class TrtllmExecutor implements AutoCloseable {
    /** What the executor is built with (see {@code kvfn_trtllm_config}); 0 leaves a value to the engine. */
    record Settings(String engineDir, int maxBatchSize, int maxNumTokens, int maxQueueSize, int schedulerPolicy,
                    boolean blockReuse, int kvMaxTokens, float freeGpuMemoryFraction, long hostCacheBytes, boolean onboardBlocks,
                    int eventBufferMaxSize) {}

    /** One request as the native side takes it. */
    record Submission(int[] tokens, int maxNewTokens, int endId, float temperature, int topK, float topP, float minP, long seed,
                      long cacheSalt, int retentionPriority) {}

    /** Receives what {@link #await} read, one response (part) at a time; tokens are {@code tokens[from .. from+count)}. */
    interface Responses {
        void response(long requestId, int[] tokens, int from, int count, boolean isFinal, int finishReason, int error,
                      String errorMessage, int reusedTokens);
    }

    /** Receives KV events one block at a time. */
    interface KvEvents {
        void stored(long hash, long parent, boolean hasParent, int[] tokens, int from, int count);

        void removed(long hash);
    }

    /** The latest iteration's numbers (see {@code kvfn_trtllm_stats}). */
    record Stats(long iterations, int queued, int active, int tokensPerBlock, long maxBlocks, long freeBlocks, long usedBlocks,
                 long reusedBlocks, long missedBlocks) {}

    private static final int MESSAGE = 1024, RESPONSES = 256, TOKENS = 8192, TEXT = 16384, EVENTS = 256;

    private final kvfn_trtllm handle;
    private final int tokensPerBlock;
    private final ReentrantReadWriteLock open = new ReentrantReadWriteLock();
    private boolean closed; // under open's write lock

    // the poller's buffers
    private final kvfn_trtllm_response responses = new kvfn_trtllm_response(RESPONSES);
    private final kvfn_trtllm_kv_event events = new kvfn_trtllm_kv_event(EVENTS);
    private final kvfn_trtllm_stats stats = new kvfn_trtllm_stats();
    private final IntPointer nativeTokens = new IntPointer(TOKENS);
    private final int[] tokens = new int[TOKENS];
    private final BytePointer texts = new BytePointer(TEXT);
    private final int[] count = new int[1];
    private final byte[] pollerMessage = new byte[MESSAGE];

    private TrtllmExecutor(kvfn_trtllm handle) {
        this.handle = handle;
        this.tokensPerBlock = kvfn_trtllm_tokens_per_block(handle);
    }

    /** Builds the executor (loads the engine onto the GPU). */
    static TrtllmExecutor create(Settings s) {
        TrtllmNative.load();
        byte[] message = new byte[MESSAGE];
        var handle = new kvfn_trtllm();
        int rc;
        try (var config = new kvfn_trtllm_config(); var dir = new BytePointer(s.engineDir(), StandardCharsets.UTF_8)) {
            config.engine_dir(dir).max_batch_size(s.maxBatchSize()).max_num_tokens(s.maxNumTokens()).max_queue_size(s.maxQueueSize())
                    .scheduler_policy(s.schedulerPolicy()).enable_block_reuse(s.blockReuse() ? 1 : 0).kv_max_tokens(s.kvMaxTokens())
                    .free_gpu_memory_fraction(s.freeGpuMemoryFraction()).host_cache_bytes(s.hostCacheBytes())
                    .onboard_blocks(s.onboardBlocks() ? 1 : 0).event_buffer_max_size(s.eventBufferMaxSize())
                    .iter_stats_max_iterations(16);
            rc = kvfn_trtllm_create(config, handle, message, MESSAGE);
        }
        if (rc != OK || handle.isNull()) {
            String why = text(message);
            if (rc == E_ARGUMENT || rc == E_UNSUPPORTED) throw new IllegalArgumentException("TensorRT-LLM engine " + s.engineDir() + ": " + why);
            throw new IllegalStateException("TensorRT-LLM could not start the engine " + s.engineDir() + ": " + why);
        }
        return new TrtllmExecutor(handle);
    }

    int tokensPerBlock() {
        return tokensPerBlock;
    }

    /** Queues a request; returns its id. Refusals become the exceptions HTTP maps (400, 429, 503, 500). */
    long enqueue(Submission s) {
        byte[] message = new byte[MESSAGE];
        long[] id = new long[1];
        int rc;
        open.readLock().lock();
        try (var request = new kvfn_trtllm_request(); var prompt = new IntPointer(s.tokens())) {
            if (closed) throw new IllegalStateException("engine is closed");
            request.tokens(prompt).token_count(s.tokens().length).max_new_tokens(s.maxNewTokens()).end_id(s.endId())
                    .temperature(s.temperature()).top_k(s.topK()).top_p(s.topP()).min_p(s.minP()).seed(s.seed())
                    .cache_salt(s.cacheSalt()).retention_priority(s.retentionPriority()).streaming(1);
            rc = kvfn_trtllm_enqueue(handle, request, id, message, MESSAGE);
        } finally {
            open.readLock().unlock();
        }
        return switch (rc) {
            case OK -> id[0];
            case E_QUEUE_FULL -> throw new QueueFullException("TensorRT-LLM's request queue is full (" + text(message)
                    + "); retry shortly", 1);
            case E_ARGUMENT, E_UNSUPPORTED -> throw new IllegalArgumentException(text(message));
            case E_CLOSED -> throw new EngineUnavailableException("TensorRT-LLM executor is shut down: " + text(message), null);
            default -> throw new GenerationFailedException("TensorRT-LLM refused the request: " + text(message), null);
        };
    }

    /** Asks the executor to stop a request; its final response still comes through {@link #await}. */
    void cancel(long requestId) {
        byte[] message = new byte[MESSAGE];
        open.readLock().lock();
        try {
            if (closed) return;
            int rc = kvfn_trtllm_cancel(handle, requestId, message, MESSAGE);
            if (rc != OK) throw new IllegalStateException("TensorRT-LLM could not cancel request " + requestId + ": " + text(message));
        } finally {
            open.readLock().unlock();
        }
    }

    /** Waits up to {@code timeoutMs} for responses and hands each to {@code sink}; returns how many. Poller thread only. */
    int await(int timeoutMs, Responses sink) {
        int rc;
        open.readLock().lock();
        try {
            if (closed) return 0;
            rc = kvfn_trtllm_await(handle, timeoutMs, responses.position(0), RESPONSES, nativeTokens.position(0), TOKENS, texts.position(0), TEXT, count,
                    pollerMessage, MESSAGE);
        } finally {
            open.readLock().unlock();
        }
        if (rc != OK) throw new IllegalStateException("TensorRT-LLM await failed: " + text(pollerMessage));
        int n = count[0], used = 0;
        for (int i = 0; i < n; i++) {
            var r = responses.position(i);
            used = Math.max(used, r.token_offset() + r.token_count());
        }
        nativeTokens.position(0).get(tokens, 0, used);
        for (int i = 0; i < n; i++) {
            var r = responses.position(i);
            String error = null;
            if (r.error() != 0) {
                byte[] b = new byte[r.message_length()];
                texts.position(r.message_offset()).get(b);
                texts.position(0);
                error = new String(b, StandardCharsets.UTF_8);
            }
            sink.response(r.request_id(), tokens, r.token_offset(), r.token_count(), r.is_final() != 0, r.finish_reason(), r.error(),
                    error, r.reused_tokens());
        }
        return n;
    }

    /** Drains the KV events there are (waiting up to {@code timeoutMs} for the first); returns how many. Poller thread only. */
    int drainEvents(int timeoutMs, KvEvents sink) {
        int rc;
        open.readLock().lock();
        try {
            if (closed) return 0;
            rc = kvfn_trtllm_kv_events(handle, timeoutMs, events.position(0), EVENTS, nativeTokens.position(0), TOKENS, count, pollerMessage, MESSAGE);
        } finally {
            open.readLock().unlock();
        }
        if (rc != OK) throw new IllegalStateException("TensorRT-LLM KV events failed: " + text(pollerMessage));
        int n = count[0], used = 0;
        for (int i = 0; i < n; i++) {
            var e = events.position(i);
            used = Math.max(used, e.token_offset() + e.token_count());
        }
        nativeTokens.position(0).get(tokens, 0, used);
        for (int i = 0; i < n; i++) {
            var e = events.position(i);
            if (e.kind() == KV_STORED) {
                sink.stored(e.block_hash(), e.parent_hash(), e.has_parent() != 0, tokens, e.token_offset(), e.token_count());
            } else if (e.kind() == KV_REMOVED) {
                sink.removed(e.block_hash());
            }
        }
        return n;
    }

    /** The latest iteration stats. Poller thread only. */
    Stats stats() {
        open.readLock().lock();
        try {
            if (closed) return null;
            int rc = kvfn_trtllm_stats_get(handle, stats, pollerMessage, MESSAGE);
            if (rc != OK) throw new IllegalStateException("TensorRT-LLM stats failed: " + text(pollerMessage));
            return new Stats(stats.iterations(), stats.queued_requests(), stats.active_requests(), stats.tokens_per_block(),
                    stats.max_blocks(), stats.free_blocks(), stats.used_blocks(), stats.reused_blocks(), stats.missed_blocks());
        } finally {
            open.readLock().unlock();
        }
    }

    /** Shuts the executor down and frees the handle and the buffers (after calls in progress return). */
    @Override
    public void close() {
        open.writeLock().lock();
        try {
            if (closed) return;
            closed = true;
            kvfn_trtllm_destroy(handle);
            responses.close();
            events.close();
            stats.close();
            nativeTokens.close();
            texts.close();
        } finally {
            open.writeLock().unlock();
        }
    }

    private static String text(byte[] message) {
        int n = 0;
        while (n < message.length && message[n] != 0) n++;
        return n == 0 ? "(no message)" : new String(message, 0, n, StandardCharsets.UTF_8);
    }
}
