package dev.kvfn.kv.tier.redis;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.tier.BlockSink;
import dev.kvfn.kv.tier.HostStoreOptions;
import dev.kvfn.kv.tier.KvTiers;
import dev.kvfn.kv.tier.SpillPolicy;
import dev.kvfn.kv.tier.TierStats;
import io.vertx.redis.client.Redis;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tier facade as engines use it, with no model: an engine whose blocks never leave its device
 * (TensorRT-LLM) only reports stored blocks and reads hot prefixes back; an engine that moves bytes
 * restores through Redis without a host store; keys any engine computes are the same. A real
 * redis-server on a loopback port.
 */
class KvTiersTest {
    static final byte[] FP = new byte[32];
    static RedisClient redis;
    static RedisServer server;
    static Redis client;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        FP[3] = 7;
        redis = new RedisClient();
        server = redis.server;
        client = redis.client;
    }

    @AfterAll
    static void stop() throws Exception {
        if (redis != null) redis.close();
    }

    @BeforeEach
    void flush() throws Exception {
        server.command("FLUSHALL");
    }

    static RedisKvTier tier(String replica) {
        return redis.tier(replica);
    }

    /** The keys of {@code tokens}' full blocks, as every engine computes them. */
    static BlockKey[] chain(BlockFormat f, String salt, int[] tokens) {
        var h = new BlockHasher(FP, f.layoutId());
        BlockKey[] keys = new BlockKey[tokens.length / f.blockTokens()];
        for (int i = 0; i < keys.length; i++) keys[i] = h.key(i == 0 ? null : keys[i - 1], salt, tokens, i * f.blockTokens(), f.blockTokens());
        return keys;
    }

    static int[] tokens(int n, int seed) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 1000 + seed * 97 + i * 13;
        return t;
    }

    @Test
    void anEngineThatOnlyReportsEventsFeedsTheIndexAndGetsItsHotPrefixesBack() throws Exception {
        var gpu = new BlockFormat("trtllm-fake/1;block=4", 4, 0); // no bytes ever leave this engine
        int[] shared = tokens(12, 1), tenant = tokens(8, 2);
        BlockKey[] sharedChain = chain(gpu, null, shared), tenantChain = chain(gpu, "tenant-a", tenant);
        RedisKvTier t1 = tier("gpu-1");
        try (KvTiers a = KvTiers.open(gpu, FP, "fp-gpu", null, t1, 0)) {
            assertFalse(a.fetchesAhead(), "nothing to fetch for an engine without bytes");
            for (int i = 0; i < sharedChain.length; i++) {
                a.stored(sharedChain[i], i == 0 ? null : sharedChain[i - 1], shared, i * 4, false, null);
            }
            for (int i = 0; i < tenantChain.length; i++) {
                a.stored(tenantChain[i], i == 0 ? null : tenantChain[i - 1], tenant, i * 4, true, null);
            }
            a.removed(sharedChain[2], sharedChain[1], null); // evicted on the device: the index keeps the entry
            a.hit(sharedChain[2]);
            a.hit(tenantChain[1]);
            a.hit(tenantChain[1]); // hotter, but a tenant's prompt is never handed out for re-prefill
            assertTrue(t1.drain(Duration.ofSeconds(10)));
            assertEquals("engine", server.command("HGET kvfn:fp-gpu:m:{" + sharedChain[0].hex() + "} where").strip().replaceAll("^\\$\\d+\\s*", ""));
            TierStats redis = a.stats().getFirst();
            assertEquals("redis", redis.tier());
            assertEquals(sharedChain.length + tenantChain.length, redis.writes().blocks(), "every event published");
            assertEquals(0, redis.writes().bytes());
        }
        // a new replica (or a restart) reads what to re-prefill before it reports ready
        try (KvTiers b = KvTiers.open(gpu, FP, "fp-gpu", null, tier("gpu-2"), 0)) {
            List<int[]> prefixes = b.hotPrefixes(64);
            assertEquals(1, prefixes.size(), "the shared chain only");
            assertArrayEquals(shared, prefixes.getFirst());
            assertEquals(List.of(), b.hotPrefixes(2), "a chain longer than the budget is not cut");
        }
        // the same tokens on the CPU engine's layout give other keys: layouts never share blocks
        var cpu = new dev.kvfn.kv.KvLayout(1, 1, 8, 4, dev.kvfn.kv.KvElementType.F16).format();
        assertFalse(Arrays.equals(sharedChain, chain(cpu, null, shared)));
        assertArrayEquals(sharedChain, chain(gpu, null, shared), "keys are a pure function of fingerprint, layout, salt, tokens");
    }

    @Test
    void blocksComeBackThroughRedisWithoutAHostStore() throws Exception {
        var f = new BlockFormat("bytes/1", 4, 256);
        int[] t = tokens(16, 3);
        BlockKey[] keys = chain(f, null, t);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment blocks = arena.allocate(256L * keys.length);
            for (long i = 0; i < blocks.byteSize(); i++) blocks.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + 3));
            RedisKvTier ta = tier("a");
            try (KvTiers a = KvTiers.open(f, FP, "fp-bytes", null, ta, 16)) {
                for (int i = 0; i < keys.length; i++) {
                    a.stored(keys[i], i == 0 ? null : keys[i - 1], t, i * 4, false, blocks.asSlice(i * 256L, 256));
                }
                assertTrue(a.flush(Duration.ofSeconds(10)));
                assertTrue(ta.drain(Duration.ofSeconds(10)));
            }
            try (KvTiers b = KvTiers.open(f, FP, "fp-bytes", null, tier("b"), 16)) {
                assertTrue(b.fetchesAhead());
                assertEquals(0, b.cachedRun(keys, 0, keys.length));
                b.fetchAhead(() -> Arrays.copyOf(keys, 3)).get(10, TimeUnit.SECONDS);
                assertEquals(3, b.cachedRun(keys, 0, keys.length), "the three blocks asked for are staged");
                MemorySegment dst = arena.allocate(256L * 3);
                int good = b.restore(keys, 0, 3, new BlockSink() {
                    public MemorySegment segment() { return dst; }
                    public long offset(int i) { return 256L * (2 - i); } // any placement the engine chooses
                });
                assertEquals(3, good);
                for (int i = 0; i < 3; i++) {
                    assertEquals(-1, dst.asSlice(256L * (2 - i), 256).mismatch(blocks.asSlice(256L * i, 256)), "block " + i);
                }
                TierStats redis = b.stats().getFirst();
                assertEquals(12, redis.hitTokens(), "restored blocks count as Redis hits");
                assertEquals(0, b.cachedRun(keys, 0, 3), "a restore takes the staged blocks");
                // blocks the engine reports holding are never fetched again (under any spill policy)
                b.stored(keys[0], null, t, 0, false, blocks.asSlice(0, 256));
                b.fetchAhead(() -> Arrays.copyOf(keys, 1)).get(10, TimeUnit.SECONDS);
                assertEquals(0, b.cachedRun(keys, 0, 1), "not fetched: the engine holds it");
            }
        }
    }

    @Test
    void underOnEvictAFetchSkipsWhatTheEngineHolds() throws Exception {
        var f = new BlockFormat("bytes/1", 4, 256);
        int[] t = tokens(8, 4);
        BlockKey[] keys = chain(f, null, t);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment bytes = arena.allocate(512);
            RedisKvTier ta = tier("a");
            // write-through replica A puts both blocks in Redis
            try (KvTiers a = KvTiers.open(f, FP, "fp-evict", HostStoreOptions.at(dir.resolve("a"), 1 << 20), ta, 0)) {
                a.stored(keys[0], null, t, 0, false, bytes.asSlice(0, 256));
                a.stored(keys[1], keys[0], t, 4, false, bytes.asSlice(256, 256));
                assertTrue(a.flush(Duration.ofSeconds(10)));
                assertTrue(ta.drain(Duration.ofSeconds(10)));
            }
            RedisKvTier tb = tier("b");
            var onEvict = HostStoreOptions.at(dir.resolve("b"), 1 << 20).withPolicy(SpillPolicy.ON_EVICT);
            try (KvTiers b = KvTiers.open(f, FP, "fp-evict", onEvict, tb, 0)) {
                b.stored(keys[0], null, t, 0, false, bytes.asSlice(0, 256));
                b.stored(keys[1], keys[0], t, 4, false, bytes.asSlice(256, 256));
                assertTrue(b.flush(Duration.ofSeconds(10)));
                assertEquals(0, b.cachedRun(keys, 0, 2), "on-evict: nothing in the host store while the engine holds it");
                long before = tb.stats().lookups();
                b.fetchAhead(() -> keys).get(10, TimeUnit.SECONDS);
                assertEquals(before, tb.stats().lookups(), "no lookup for blocks the engine holds");
                b.removed(keys[0], null, bytes.asSlice(0, 256));
                b.removed(keys[1], keys[0], bytes.asSlice(256, 256));
                assertTrue(b.flush(Duration.ofSeconds(10)));
                assertEquals(2, b.cachedRun(keys, 0, 2), "evicted blocks were spilled to the host store");
            }
        }
    }
}
