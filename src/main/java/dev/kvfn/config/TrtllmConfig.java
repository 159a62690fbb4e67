package dev.kvfn.config;

import io.quarkus.runtime.configuration.MemorySize;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.util.Optional;

/** The TensorRT-LLM engine ({@code kvfn.engine=trtllm}); read only when that engine is selected. */
@ConfigMapping(prefix = "kvfn.trtllm")
public interface TrtllmConfig {

    /** The TensorRT-LLM engine directory ({@code config.json} + {@code rank0.engine}), as trtllm-build wrote it. Env: KVFN_TRTLLM_ENGINE_DIR. */
    Optional<String> engineDir();

    /**
     * The engine's tokenizer: the Hugging Face checkpoint or tokenizer directory ({@code tokenizer.json},
     * {@code tokenizer_config.json} with the chat template), or a GGUF file with the vocabulary (a vocabulary-only
     * GGUF is enough). Env: KVFN_TRTLLM_VOCABULARY.
     */
    Optional<Path> vocabulary();

    /** Positions per sequence; 0 reads {@code build_config.max_seq_len} from the engine's config.json. */
    @WithDefault("0")
    int contextLength();

    /** Requests in flight in the executor at most (its max batch size); 0 keeps the engine's. */
    @WithDefault("0")
    int maxBatchSize();

    /** Tokens per executor iteration at most; 0 keeps the engine's. */
    @WithDefault("0")
    int maxNumTokens();

    /** Requests waiting in the executor at most; beyond, a request is refused with 429. 0: unbounded. */
    @WithDefault("64")
    int maxQueueSize();

    /** {@code guaranteed-no-evict}, {@code max-utilization} or {@code static-batch} (TensorRT-LLM's capacity scheduler). */
    @WithDefault("guaranteed-no-evict")
    String schedulerPolicy();

    /** TensorRT-LLM's KvCacheConfig. */
    KvCache kvCache();

    /** Start-up: blocks of the hottest prefixes the shared index knows, re-prefilled before the replica reports ready. */
    @WithDefault("0")
    int prewarmBlocks();

    /** Retention priority (0-100) of re-prefilled prefixes, so TensorRT-LLM evicts them last. */
    @WithDefault("90")
    int prewarmPriority();

    interface KvCache {
        /** Reuse KV blocks across requests (prefix caching); the KV events feeding kvfn's index need it. */
        @WithDefault("true")
        boolean enableBlockReuse();

        /** KV cache size in tokens; 0 sizes it by {@link #freeGpuMemoryFraction()}. */
        @WithDefault("0")
        int maxTokens();

        /** Share of the GPU memory left after the weights that the KV cache takes. */
        @WithDefault("0.9")
        float freeGpuMemoryFraction();

        /** TensorRT-LLM's own host-memory tier for offloaded blocks (0: none). */
        @WithDefault("0")
        MemorySize hostCacheSize();

        /** Bring offloaded blocks back to the GPU before reusing them. */
        @WithDefault("true")
        boolean onboardBlocks();

        /** KV events buffered between two drains (must be > 0: kvfn's index is fed from them). */
        @WithDefault("16384")
        int eventBufferMaxSize();
    }
}
