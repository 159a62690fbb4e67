package dev.kvfn.config;

import io.quarkus.runtime.configuration.MemorySize;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.util.Optional;

/** The engine's paged KV pool and prefix cache. */
@ConfigMapping(prefix = "kvfn.kv")
public interface KvConfig {

    /** Pool size ({@code 512M}, {@code 4G}); unset: sized from {@link #memoryFraction()}. Env: KVFN_KV_POOL_BYTES. */
    Optional<MemorySize> poolBytes();

    /**
     * Without {@link #poolBytes()}: the pool takes enough for {@code kvfn.scheduler.max-seqs} full-context sequences,
     * at most this share of the physical memory left after the model file and the Java heap.
     */
    @WithDefault("0.5")
    double memoryFraction();

    /** Tokens per block, a power of two (1..256). */
    @WithDefault("16")
    int blockTokens();

    /** KV element type: {@code f32}, {@code f16} or {@code q8} (int8, one scale per block, layer, K|V and head). */
    @WithDefault("f16")
    String elementType();

    /** Reuse full blocks of earlier prompts (hash-chained keys, per cache salt). */
    @WithDefault("true")
    boolean prefixCaching();
}
