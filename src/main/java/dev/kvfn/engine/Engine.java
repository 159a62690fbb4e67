package dev.kvfn.engine;

import dev.kvfn.tokenizer.Tokenizer;

/**
 * What the function layer talks to. One engine owns one model and its KV cache.
 *
 * <p>The shape follows what a native in-flight batching engine (TensorRT-LLM's executor) offers:
 * requests are submitted without blocking, tokens stream to a sink as they are produced, and a
 * request can be cancelled. A CPU engine and a JNI engine both fit behind it unchanged.
 */
public interface Engine extends AutoCloseable {

    ModelInfo model();

    Tokenizer tokenizer();

    /**
     * Queues a generation. Tokens are pushed to {@code sink} from the engine's thread as they are
     * produced; the returned handle completes with the final result (or exceptionally).
     *
     * @throws IllegalArgumentException when the request cannot be served (prompt longer than the context...)
     */
    Generation submit(GenerationRequest request, TokenSink sink);

    /** The scheduler's and KV pool's current numbers (cheap: a published snapshot). */
    default EngineStats stats() {
        return EngineStats.NONE;
    }

    /**
     * Waits until every KV block computed so far has reached the engine's persistent tier (the host
     * store), so it survives this process. True when done (or there is no such tier).
     */
    default boolean persist(java.time.Duration timeout) throws InterruptedException {
        return true;
    }

    /**
     * Why this engine can no longer serve (it stopped after failures it could not survive; submit then
     * throws {@link EngineUnavailableException}), or null while it can. Liveness reports it.
     */
    default String failure() {
        return null;
    }

    @Override
    void close();
}
