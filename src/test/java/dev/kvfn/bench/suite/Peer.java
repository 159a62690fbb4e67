package dev.kvfn.bench.suite;

import java.util.List;
import java.util.OptionalDouble;

/**
 * One engine on one model, measured the same way as every other: greedy sampling, fresh prompts (no cache hits),
 * times taken around the engine's own calls (never process start or model load).
 */
interface Peer extends AutoCloseable {
    String KVFN = "kvfn", SERVED = "served", LLAMA_CPP = "llama.cpp", KHERUD = "kherud";

    /** The engine's name in tables and charts. */
    String engine();

    /** Prefill tokens per second: the prompt's length over the time to the first token. */
    double prefill(Prompt prompt) throws Exception;

    /** Decode tokens per second: {@code tokens} greedy tokens after the prompt's first one, over the time they took. */
    double decode(Prompt prompt, int tokens) throws Exception;

    /**
     * Aggregate decode tokens per second of one stream per prompt, all at once ({@link Streams#aggregate}), or empty
     * where this engine does not run concurrent streams here.
     */
    default OptionalDouble streams(List<int[]> prompts, int tokens) throws Exception {
        return OptionalDouble.empty();
    }

    @Override
    void close() throws Exception;
}
