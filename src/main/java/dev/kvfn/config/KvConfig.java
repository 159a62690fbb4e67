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

    /**
     * Which requests see their cache hits ({@code cachedTokens} and {@code ttftMillis} of {@code generate},
     * {@code usage.prompt_tokens_details} on {@code /v1}): {@code salted} (default) only requests that sent their own
     * cache salt — an unsalted request shares blocks with every other unsalted one, and its hit count would tell it
     * what they asked; {@code always} every request (one tenant, or tests); {@code never} none.
     * Env: KVFN_KV_REPORT_CACHED_TOKENS.
     */
    @WithDefault("salted")
    CachedTokensReport reportCachedTokens();

    /**
     * Refuse requests without a cache salt (HTTP 400 naming the field): multi-tenant deployments, where every tenant
     * must keep its own cache. Env: KVFN_KV_REQUIRE_SALT.
     */
    @WithDefault("false")
    boolean requireSalt();

    /** Values of {@link #reportCachedTokens()}. */
    enum CachedTokensReport { ALWAYS, SALTED, NEVER }

    /**
     * The secret that authenticates and encrypts KV blocks outside the process (Redis values, and the host store's
     * blocks when set), at least 16 bytes: {@code openssl rand -base64 32}. Keys are derived from it per use. Required
     * when Redis holds block bytes ({@code kvfn.kv.redis.store-bytes}); every replica sharing the Redis needs the same
     * one. From a Kubernetes Secret (see {@code deploy/}). Env: KVFN_KV_SECRET.
     */
    Optional<String> secret();

    /** The host-memory tier: full blocks in a memory-mapped file that outlives the process. */
    HostStore hostStore();

    /** Start-up restore of recently used prefixes from the host store into the pool (before readiness). */
    Prewarm prewarm();

    /** The shared tier, used when {@code quarkus.redis.hosts} is set. */
    Redis redis();

    interface HostStore {
        /** Off: the pool is the only tier. Env: KVFN_KV_HOST_STORE_ENABLED. */
        @WithDefault("true")
        boolean enabled();

        /**
         * Base directory; the store is {@code <path>/<model fingerprint>/blocks.kvfn} (0600 in a 0700 directory). Both
         * directories must be real directories (no symlinks) owned by this process's user and writable by nobody else,
         * else the tier stays off; {@code {uid}} is replaced by the process's numeric user id.
         * {@code /dev/shm} survives a process restart (a Knative {@code emptyDir} with {@code medium: Memory} too);
         * a volume survives the pod. Env: KVFN_KV_HOST_STORE_PATH.
         */
        @WithDefault("/dev/shm/kvfn-{uid}")
        java.nio.file.Path path();

        /** Its budget, taken (written) when the store is created; it never grows past it. Env: KVFN_KV_HOST_STORE_BYTES. */
        @WithDefault("1G")
        MemorySize bytes();

        /** {@code write-through} (every full block, as soon as it is computed) or {@code on-evict} (only what the pool drops). */
        @WithDefault("write-through")
        String policy();

        /** Staging buffers between the compute loop and the writer thread; when all are busy a block is not spilled. */
        @WithDefault("64")
        int queueBlocks();
    }

    interface Prewarm {
        /** Most recently used blocks (with their chains) restored into the pool at start; 0 = none. */
        @WithDefault("0")
        int blocks();
    }

    interface Redis {
        /** Store block bytes in Redis (so another replica can restore them), not just the index. */
        @WithDefault("true")
        boolean storeBytes();

        /** Deadline of the one round trip that looks up a prompt's chain. */
        @WithDefault("20ms")
        java.time.Duration lookupTimeout();

        /** Deadline of fetching the found blocks' bytes. */
        @WithDefault("2s")
        java.time.Duration fetchTimeout();

        /** Expiry of every key kvfn writes (Redis's maxmemory policy bounds the total as well). */
        @WithDefault("24h")
        java.time.Duration ttl();

        /**
         * The first part of every key kvfn writes ({@code <prefix>:<model fingerprint>:...}): deployments sharing one
         * Redis keep apart with a prefix each (and an ACL user limited to {@code ~<prefix>:*}). No spaces or braces: a
         * brace would make the prefix every key's Redis Cluster hash tag.
         */
        @WithDefault("kvfn")
        String keyPrefix();

        /** Publications in flight at most; beyond, blocks are not published (counted). */
        @WithDefault("64")
        int maxInFlight();
    }
}
