package dev.kvfn.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import io.smallrye.config.WithParentName;

/** How the engine runs. */
@ConfigMapping(prefix = "kvfn.engine")
public interface EngineConfig {

    /**
     * Which engine serves the model: {@code kvfn.engine=cpu} (the pure-Java engine, the embedded default) or
     * {@code trtllm} (TensorRT-LLM on a GPU, {@code kvfn.trtllm.*}). Env: KVFN_ENGINE.
     */
    @WithParentName
    @WithDefault("cpu")
    String kind();

    /** Compute threads (one long-lived worker per thread); 0 means one per available core. Env: KVFN_ENGINE_THREADS. */
    @WithDefault("0")
    int threads();

    /**
     * Linux nice value (0-19) of the compute threads. When compute keeps every core busy, the threads that answer
     * requests (stream writes, 429s, health probes) still run at once; alone, compute loses nothing. 0 leaves the
     * threads' priority as it is. Env: KVFN_ENGINE_COMPUTE_NICE.
     */
    @WithDefault("10")
    int computeNice();

    /** Positions per sequence; 0 keeps the model's own context length. Bounds KV per sequence. Env: KVFN_ENGINE_CONTEXT_LENGTH. */
    @WithDefault("0")
    int contextLength();

    default int effectiveThreads() {
        return threads() > 0 ? threads() : Runtime.getRuntime().availableProcessors();
    }
}
