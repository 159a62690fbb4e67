package dev.kvfn.kv.tier.redis;

import dev.kvfn.engine.GenerationResult;
import dev.kvfn.kv.tier.TierStats;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.engine.cpu.EngineOptions;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.tier.HostStoreOptions;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Redis tier against a real redis-server: a prefix computed on replica A is restored on replica
 * B (its own empty host store) with identical greedy tokens; Redis stopped, flushed or holding a
 * corrupted block never fails a request or changes a token, and each fault is counted.
 */
class RedisTierTest {
    static RedisClient redis;
    static RedisServer server;
    static Redis client;
    static int[] prompt;
    static int[] cold;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        redis = new RedisClient();
        server = redis.server;
        client = redis.client;
        try (CpuEngine e = engine(null, null, false)) {
            prompt = e.tokenizer().encode(dev.kvfn.engine.cpu.PagedEngineTestAccess.STORY, true, false);
            cold = run(e, prompt).tokens();
        }
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

    static CpuEngine engine(Path hostDir, RedisKvTier tier, boolean caching) {
        return engine(hostDir, tier, caching, 16);
    }

    static CpuEngine engine(Path hostDir, RedisKvTier tier, boolean caching, int blockTokens) {
        EngineOptions o = EngineOptions.defaults(2).withKv(dev.kvfn.kv.KvElementType.F32, blockTokens).withPrefixCaching(caching || hostDir != null);
        if (hostDir != null) o = o.withHostStore(HostStoreOptions.at(hostDir, 8L << 20)).withRemote(tier);
        return CpuEngine.load(dev.kvfn.engine.cpu.PagedEngineTestAccess.storiesBin(), dev.kvfn.engine.cpu.PagedEngineTestAccess.tok512(), o);
    }

    static GenerationResult run(CpuEngine e, int[] p) throws Exception {
        return e.submit(new dev.kvfn.engine.GenerationRequest(p, 30, dev.kvfn.engine.SamplingParams.GREEDY), null)
                .result().get(60, TimeUnit.SECONDS);
    }

    /** Replica A computes the prompt; its blocks reach Redis through its host store. */
    void computeOnReplicaA() throws Exception {
        RedisKvTier a = tier("replica-a");
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("a")), a, true)) {
            GenerationResult r = run(e, prompt);
            assertArrayEquals(cold, r.tokens());
            assertTrue(e.persist(java.time.Duration.ofSeconds(10)));
            assertTrue(a.drain(Duration.ofSeconds(10)));
            // every full block: the prompt's, and those its 30 generated tokens filled
            assertEquals((prompt.length + 29) / 16, a.stats().published(), "every full block was published: " + a.stats());
        }
    }

    @Test
    void aPrefixComputedOnOneReplicaIsRestoredOnAnother() throws Exception {
        computeOnReplicaA();
        assertTrue(Integer.parseInt(server.command("DBSIZE").replaceAll("[^0-9]", "")) > 0);
        RedisKvTier b = tier("replica-b");
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("b")), b, true)) {
            GenerationResult r = run(e, prompt);
            assertEquals((prompt.length - 1) / 16 * 16, r.cachedTokens(), "restored from Redis: " + e.stats());
            assertArrayEquals(cold, r.tokens());
            TierStats redis = e.stats().tier("redis");
            assertEquals(r.cachedTokens(), redis.hitTokens());
            assertEquals(0, e.stats().tier("host").hitTokens(), "B's host store was empty: the blocks came through Redis");
            assertEquals(1, b.stats().lookups());
        }
    }

    @Test
    void redisDownOrFlushedCostsHitsNeverRequests() throws Exception {
        computeOnReplicaA();
        server.stop();
        RedisKvTier b = tier("replica-b");
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("b")), b, true)) {
            GenerationResult r = run(e, prompt);
            assertEquals(0, r.cachedTokens());
            assertArrayEquals(cold, r.tokens());
            assertTrue(b.stats().errors() + b.stats().timeouts() > 0, "the outage is visible: " + b.stats());
            assertTrue(e.stats().tier("redis").faults() > 0);
            // Redis comes back empty (flushed by the restart): the replica reconnects and publishes again
            server.start();
            int[] other = java.util.Arrays.copyOf(prompt, 50);
            other[40] = 7;
            long published = b.stats().published();
            GenerationResult r2 = run(e, other);
            assertArrayEquals(coldOf(other), r2.tokens());
            assertTrue(e.persist(java.time.Duration.ofSeconds(10)));
            assertTrue(b.drain(Duration.ofSeconds(10)));
            assertTrue(b.stats().published() > published, "publishing resumed after the restart: " + b.stats());
        }
    }

    static int[] coldOf(int[] p) throws Exception {
        try (CpuEngine e = engine(null, null, false)) {
            return run(e, p).tokens();
        }
    }

    @Test
    void aCorruptedBlockInRedisIsRejectedDeletedAndRecomputed() throws Exception {
        computeOnReplicaA();
        String fp;
        BlockKey second;
        try (CpuEngine probe = engine(null, null, false)) {
            fp = probe.fingerprint().shortHex();
            var h = new BlockHasher(probe.fingerprint().digest(), probe.keyLayoutId());
            BlockKey first = h.key(null, null, prompt, 0, 16);
            second = h.key(first, null, prompt, 16, 16);
        }
        String dataKey = "kvfn:" + fp + ":d:{" + second.hex() + "}";
        byte[] bytes = client.send(Request.cmd(Command.GET).arg(dataKey)).toCompletionStage().toCompletableFuture()
                .get(5, TimeUnit.SECONDS).toBuffer().getBytes();
        byte[] good = bytes.clone();
        bytes[123] ^= 0x10; // inside the ciphertext (after version and nonce)
        client.send(Request.cmd(Command.SET).arg(dataKey).arg(io.vertx.core.buffer.Buffer.buffer(bytes)))
                .toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
        RedisKvTier b = tier("replica-b");
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("b")), b, true)) {
            GenerationResult r = run(e, prompt);
            assertEquals(16, r.cachedTokens(), "only the block before the corrupted one is used");
            assertArrayEquals(cold, r.tokens());
            assertEquals(1, b.stats().faults());
            assertTrue(e.persist(java.time.Duration.ofSeconds(10)));
            assertTrue(b.drain(Duration.ofSeconds(10)));
            // the bad value was deleted; B recomputed the block and published it again (SET NX on a now-free key).
            // Sealed afresh (a new nonce), so it differs from both A's value and the corrupted one; C restores it.
            byte[] now = client.send(Request.cmd(Command.GET).arg(dataKey)).toCompletionStage().toCompletableFuture()
                    .get(5, TimeUnit.SECONDS).toBuffer().getBytes();
            assertEquals(good.length, now.length);
            assertTrue(!java.util.Arrays.equals(bytes, now), "the corrupted value is gone");
        }
        try (CpuEngine c = engine(Files.createDirectories(dir.resolve("c")), tier("replica-c"), true)) {
            GenerationResult r = run(c, prompt);
            assertEquals((prompt.length - 1) / 16 * 16, r.cachedTokens(), "B's republished block opens: " + c.stats());
            assertArrayEquals(cold, r.tokens());
        }
    }

    @Test
    void aLongChainIsFetchedInSeveralBatchesAndStopsAtTheFirstBadBlock() throws Exception {
        // 4-token blocks: the prompt's chain is long enough to be fetched as several batches on their own connections
        try (CpuEngine a = engine(Files.createDirectories(dir.resolve("a")), tier("replica-a"), true, 4)) {
            assertArrayEquals(cold, run(a, prompt).tokens());
            assertTrue(a.persist(java.time.Duration.ofSeconds(10)));
        }
        int blocks = (prompt.length - 1) / 4;
        assertTrue(blocks >= 17, "a chain of " + blocks + " blocks is fetched in at least 3 batches");
        RedisKvTier b1 = tier("replica-b1");
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("b1")), b1, true, 4)) {
            GenerationResult r = run(e, prompt);
            assertEquals(blocks * 4, r.cachedTokens(), "every block restored from Redis: " + e.stats());
            assertArrayEquals(cold, r.tokens());
            assertEquals(blocks * 4, e.stats().tier("redis").hitTokens());
        }
        // a damaged block in the last batch: the chain is restored up to it, the rest recomputed
        int bad = blocks - 2;
        String dataKey;
        try (CpuEngine probe = engine(null, null, false, 4)) {
            var h = new BlockHasher(probe.fingerprint().digest(), probe.keyLayoutId());
            BlockKey k = null;
            for (int i = 0; i <= bad; i++) k = h.key(k, null, prompt, i * 4, 4);
            dataKey = "kvfn:" + probe.fingerprint().shortHex() + ":d:{" + k.hex() + "}";
        }
        byte[] bytes = client.send(Request.cmd(Command.GET).arg(dataKey)).toCompletionStage().toCompletableFuture()
                .get(5, TimeUnit.SECONDS).toBuffer().getBytes();
        bytes[bytes.length - 1] ^= 0x01;
        client.send(Request.cmd(Command.SET).arg(dataKey).arg(io.vertx.core.buffer.Buffer.buffer(bytes)))
                .toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
        RedisKvTier b2 = tier("replica-b2");
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("b2")), b2, true, 4)) {
            GenerationResult r = run(e, prompt);
            assertEquals(bad * 4, r.cachedTokens(), "restored up to the damaged block: " + e.stats());
            assertArrayEquals(cold, r.tokens());
            assertEquals(1, b2.stats().faults());
        }
    }

    @Test
    void redisFlushedOrStoppedUnderARunningReplicaNeverFailsOrChangesARequest() throws Exception {
        computeOnReplicaA();
        RedisKvTier b = tier("replica-b");
        int[] other = java.util.Arrays.copyOf(prompt, prompt.length);
        other[prompt.length / 2] = 9;
        int[] otherCold = coldOf(other);
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("b")), b, true)) {
            // flushed under it: the index is simply empty, which is a miss, not an error
            server.command("FLUSHALL");
            GenerationResult flushed = run(e, prompt);
            assertEquals(0, flushed.cachedTokens());
            assertArrayEquals(cold, flushed.tokens());
            assertEquals(0, b.stats().errors() + b.stats().timeouts(), "a flushed index is not a fault: " + b.stats());
            assertTrue(b.stats().missBlocks() > 0);
            // stopped while a request is being looked up, computed and published: it completes with the right tokens
            var pending = e.submit(new dev.kvfn.engine.GenerationRequest(other, 30, dev.kvfn.engine.SamplingParams.GREEDY), null);
            server.stop();
            GenerationResult during = pending.result().get(60, TimeUnit.SECONDS);
            assertArrayEquals(otherCold, during.tokens());
            GenerationResult after = run(e, coldPrefixVariant(3));
            assertArrayEquals(coldOf(coldPrefixVariant(3)), after.tokens());
            assertTrue(e.persist(java.time.Duration.ofSeconds(10)));
            b.drain(Duration.ofSeconds(10));
            assertTrue(b.stats().errors() + b.stats().timeouts() > 0, "the outage is visible: " + b.stats());
            // back (empty): the running replica reconnects and publishes again, and another replica restores from it
            server.start();
            int[] fresh = coldPrefixVariant(5);
            int[] freshCold = coldOf(fresh);
            assertArrayEquals(freshCold, run(e, fresh).tokens());
            assertTrue(e.persist(java.time.Duration.ofSeconds(10)));
            assertTrue(b.drain(Duration.ofSeconds(10)));
            try (CpuEngine c = engine(Files.createDirectories(dir.resolve("c")), tier("replica-c"), true)) {
                GenerationResult r = run(c, fresh);
                assertEquals((fresh.length - 1) / 16 * 16, r.cachedTokens(), "published after the reconnect: " + c.stats());
                assertArrayEquals(freshCold, r.tokens());
            }
        }
    }

    /** The prompt with one early token changed: a chain no tier holds yet. */
    static int[] coldPrefixVariant(int token) {
        int[] p = prompt.clone();
        p[2] = token;
        return p;
    }

    @Test
    void aNewReplicaPrewarmsTheHottestChainFromRedisBeforeItServes() throws Exception {
        RedisKvTier a = tier("replica-a");
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("a")), a, true)) {
            assertArrayEquals(cold, run(e, prompt).tokens());
            assertTrue(run(e, prompt).cachedTokens() > 0); // a hit: its chain enters the hot set
            assertTrue(e.persist(java.time.Duration.ofSeconds(10)));
            assertTrue(a.drain(Duration.ofSeconds(10)));
        }
        int chain = (prompt.length - 1) / 16;
        EngineOptions o = EngineOptions.defaults(2).withKv(dev.kvfn.kv.KvElementType.F32, 16)
                .withHostStore(HostStoreOptions.at(Files.createDirectories(dir.resolve("b")), 8L << 20).withPrewarm(64))
                .withRemote(tier("replica-b"));
        try (CpuEngine b = CpuEngine.load(dev.kvfn.engine.cpu.PagedEngineTestAccess.storiesBin(),
                dev.kvfn.engine.cpu.PagedEngineTestAccess.tok512(), o)) {
            // before any request: the chain came from Redis through the empty host store into the pool
            assertEquals(chain, b.stats().pool().cached(), "prewarmed: " + b.stats());
            GenerationResult r = run(b, prompt);
            assertEquals(chain * 16, r.cachedTokens());
            assertEquals(chain * 16, b.stats().pool().hitTokens(), "served from the pool, nothing fetched on the request's path");
            assertEquals(0, b.stats().tier("redis").hitTokens());
            assertArrayEquals(cold, r.tokens());
        }
    }

    @Test
    void theHotSetKeepsTheHottestChainEndsAndExpires() throws Exception {
        RedisKvTier t = tier("replica-h");
        t.attach("hotfp", new byte[32], new dev.kvfn.kv.KvLayout(1, 1, 8, 16, dev.kvfn.kv.KvElementType.F32).format());
        for (int i = 0; i < RedisKvTier.HOT_CHAINS + 10; i++) {
            byte[] k = new byte[32];
            k[0] = (byte) i;
            k[1] = (byte) (i >> 8);
            t.hit(BlockKey.of(k));
            if (i % 200 == 0) assertTrue(t.drain(Duration.ofSeconds(10))); // stay under the in-flight bound
        }
        assertTrue(t.drain(Duration.ofSeconds(10)));
        assertEquals(RedisKvTier.HOT_CHAINS, Long.parseLong(server.command("ZCARD kvfn:hotfp:hot").replaceAll("[^0-9]", "")));
        long ttl = Long.parseLong(server.command("TTL kvfn:hotfp:hot").replaceAll("[^0-9-]", ""));
        assertTrue(ttl > 0 && ttl <= 3600, "the hot set expires like every other key: " + ttl);
    }

    /** Replica A computes {@code p} and publishes its blocks (through its own host store in {@code dir/name}). */
    void publishFromReplicaA(int[] p, String name) throws Exception {
        RedisKvTier a = tier("replica-a");
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve(name)), a, true)) {
            run(e, p);
            assertTrue(e.persist(java.time.Duration.ofSeconds(10)));
            assertTrue(a.drain(Duration.ofSeconds(10)));
            assertTrue(a.stats().published() > 0, a.stats().toString());
        }
    }

    @Test
    void aReplicaThatLivedThroughAHungAndAKilledRedisGetsItsHitsBack() throws Exception {
        RedisKvTier b = tier("replica-b");
        int fullBlocks = (prompt.length - 1) / 16 * 16;
        try (CpuEngine e = engine(Files.createDirectories(dir.resolve("b")), b, true)) {
            // hung (SIGSTOP): B's lookups time out, its requests are computed with the right tokens
            server.hang(true);
            try {
                assertArrayEquals(cold, run(e, prompt).tokens());
                assertTrue(b.stats().timeouts() + b.stats().errors() > 0, "the hang is visible: " + b.stats());
                assertTrue(e.stats().tier("redis").state().startsWith("failing"), e.stats().tier("redis").state());
            } finally {
                server.hang(false);
            }
            // thawed: blocks another replica publishes now are hits on B, same tokens as computing them
            int[] thawed = coldPrefixVariant(11);
            publishFromReplicaA(thawed, "a1");
            GenerationResult hit = run(e, thawed);
            assertEquals(fullBlocks, hit.cachedTokens(), "restored from Redis after the hang: " + e.stats());
            assertArrayEquals(coldOf(thawed), hit.tokens());
            assertEquals("ok", e.stats().tier("redis").state());

            // killed: computed again; restarted (empty): hits again, through B's reconnected client
            server.stop();
            int[] down = coldPrefixVariant(12);
            assertArrayEquals(coldOf(down), run(e, down).tokens());
            assertTrue(e.stats().tier("redis").state().startsWith("failing"), e.stats().tier("redis").state());
            server.start();
            int[] back = coldPrefixVariant(13);
            publishFromReplicaA(back, "a2");
            long hitTokens = e.stats().tier("redis").hitTokens();
            GenerationResult again = run(e, back);
            assertEquals(fullBlocks, again.cachedTokens(), "restored from Redis after the restart: " + e.stats());
            assertArrayEquals(coldOf(back), again.tokens());
            assertEquals(hitTokens + fullBlocks, e.stats().tier("redis").hitTokens());
            assertEquals("ok", e.stats().tier("redis").state());
        }
    }
}
