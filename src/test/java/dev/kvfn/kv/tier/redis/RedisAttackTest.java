package dev.kvfn.kv.tier.redis;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.seal.KvSecret;
import io.vertx.core.buffer.Buffer;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Attacks on the Redis tier by someone who can write Redis but does not hold {@code kvfn.kv.secret}:
 * values swapped between keys (the issue's {@code COPY ... REPLACE} experiment), forged, replayed
 * from another tenant's chain or another deployment's secret, cut short, inflated to 64 MiB, or
 * planted without a TTL. Every one is dropped, counted in the tier's faults and recomputed: the
 * proof is token equality with the uncached run.
 */
class RedisAttackTest {
    static RedisClient redis;
    static int[] p1, p2, cold1, cold2;
    static String fp;
    static BlockHasher hasher;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        redis = new RedisClient();
        try (CpuEngine e = RedisTierTest.engine(null, null, false)) {
            p1 = e.tokenizer().encode(dev.kvfn.engine.cpu.PagedEngineTestAccess.STORY, true, false);
            p2 = p1.clone();
            p2[1] = p1[1] == 5 ? 6 : 5; // another chain from its first block on, same length
            cold1 = RedisTierTest.run(e, p1).tokens();
            cold2 = RedisTierTest.run(e, p2).tokens();
            fp = e.fingerprint().shortHex();
            hasher = new BlockHasher(e.fingerprint().digest(), e.keyLayoutId());
        }
        assertTrue(p1.length > 48, "the prompt spans several blocks");
    }

    @AfterAll
    static void stop() throws Exception {
        if (redis != null) redis.close();
    }

    @BeforeEach
    void flush() throws Exception {
        redis.server.command("FLUSHALL");
    }

    /** The chain's block keys (16-token blocks) of {@code prompt} under {@code salt}. */
    static BlockKey[] chain(int[] prompt, String salt) {
        BlockKey[] keys = new BlockKey[(prompt.length - 1) / 16];
        BlockKey k = null;
        for (int i = 0; i < keys.length; i++) keys[i] = k = hasher.key(k, salt, prompt, i * 16, 16);
        return keys;
    }

    static String data(String prefix, BlockKey k) {
        return prefix + ":" + fp + ":d:{" + k.hex() + "}";
    }

    static Response send(Request r) throws Exception {
        return redis.client.send(r).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static byte[] get(String key) throws Exception {
        Response r = send(Request.cmd(Command.GET).arg(key));
        return r == null ? null : r.toBuffer().getBytes();
    }

    static void set(String key, byte[] value) throws Exception {
        send(Request.cmd(Command.SET).arg(key).arg(Buffer.buffer(value)));
    }

    static GenerationResult run(CpuEngine e, int[] prompt, String salt) throws Exception {
        return e.submit(new GenerationRequest(prompt, 30, SamplingParams.GREEDY, List.of(), salt), null).result().get(120, TimeUnit.SECONDS);
    }

    /** Replica A computes the prompts (under the salts) and publishes their blocks. */
    void publish(RedisKvTier a, int[][] prompts, String[] salts) throws Exception {
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("a-" + System.nanoTime())), a, true)) {
            for (int i = 0; i < prompts.length; i++) run(e, prompts[i], salts[i]);
            assertTrue(e.persist(Duration.ofSeconds(30)));
            assertTrue(a.drain(Duration.ofSeconds(30)));
        }
    }

    /** A fresh replica (empty host store) runs {@code prompt}; returns the result and checks the tokens are the uncached run's. */
    GenerationResult onFreshReplica(RedisKvTier b, int[] prompt, String salt, int[] cold) throws Exception {
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("b-" + System.nanoTime())), b, true)) {
            GenerationResult r = run(e, prompt, salt);
            assertArrayEquals(cold, r.tokens(), "the tokens of the uncached run: " + e.stats());
            assertEquals(b.stats().faults(), e.stats().tier("redis").faults() - b.stats().errors() - b.stats().timeouts(),
                    "faults are visible in the tier stats");
            return r;
        }
    }

    @Test
    void valuesCopiedFromAnotherKeyAreRefusedCountedAndRecomputed() throws Exception {
        publish(redis.tier("a"), new int[][] {p1, p2}, new String[] {null, null});
        BlockKey[] k1 = chain(p1, null), k2 = chain(p2, null);
        // the experiment: P2's blocks replaced by P1's (COPY ... REPLACE, as any Redis client can)
        for (int i = 0; i < k2.length; i++) {
            redis.server.command("COPY " + data("kvfn", k1[i]) + " " + data("kvfn", k2[i]) + " REPLACE");
        }
        RedisKvTier b = redis.tier("b");
        GenerationResult r = onFreshReplica(b, p2, null, cold2);
        assertEquals(0, r.cachedTokens(), "no swapped block was served");
        assertEquals(1, b.stats().faults(), "the first swapped block was refused and counted");
        // the swapped value was deleted, and B published its own block in its place
        assertTrue(!java.util.Arrays.equals(get(data("kvfn", k1[0])), get(data("kvfn", k2[0]))), "P1's value is gone from P2's key");
    }

    @Test
    void forgedValuesAreRefused() throws Exception {
        publish(redis.tier("a"), new int[][] {p1}, new String[] {null});
        BlockKey[] k = chain(p1, null);
        // a forger who knows the value's layout and keeps its length, version and nonce, changes the ciphertext
        byte[] value = get(data("kvfn", k[1]));
        for (int i = 13; i < 13 + 64; i++) value[i] ^= (byte) 0x5a;
        set(data("kvfn", k[1]), value);
        RedisKvTier b = redis.tier("b");
        GenerationResult r = onFreshReplica(b, p1, null, cold1);
        assertEquals(16, r.cachedTokens(), "the block before the forged one is used, nothing after it");
        assertEquals(1, b.stats().faults());
    }

    @Test
    void valuesReplayedFromAnotherTenantOrAnotherSecretAreRefused() throws Exception {
        // tenant A's chain recorded, then replayed under tenant B's keys (another prompt, another salt)
        publish(redis.tier("a"), new int[][] {p1, p2}, new String[] {"tenant-a", "tenant-b"});
        BlockKey[] ka = chain(p1, "tenant-a"), kb = chain(p2, "tenant-b");
        byte[][] recorded = new byte[ka.length][];
        for (int i = 0; i < ka.length; i++) recorded[i] = get(data("kvfn", ka[i]));
        for (int i = 0; i < kb.length; i++) {
            send(Request.cmd(Command.DEL).arg(data("kvfn", kb[i])));
            set(data("kvfn", kb[i]), recorded[i]);
        }
        RedisKvTier b = redis.tier("b");
        GenerationResult r = onFreshReplica(b, p2, "tenant-b", cold2);
        assertEquals(0, r.cachedTokens());
        assertEquals(1, b.stats().faults());

        // the same key's value sealed by another deployment (another secret) is refused as well
        redis.server.command("FLUSHALL");
        publish(redis.tier("x", "kvfn", KvSecret.of("another-deployments-secret-0123456789")), new int[][] {p1}, new String[] {null});
        RedisKvTier c = redis.tier("c");
        GenerationResult other = onFreshReplica(c, p1, null, cold1);
        assertEquals(0, other.cachedTokens());
        assertEquals(1, c.stats().faults());
    }

    @Test
    void truncatedValuesAreRefused() throws Exception {
        publish(redis.tier("a"), new int[][] {p1}, new String[] {null});
        BlockKey[] k = chain(p1, null);
        byte[] value = get(data("kvfn", k[2]));
        set(data("kvfn", k[2]), java.util.Arrays.copyOf(value, value.length - 1));
        RedisKvTier b = redis.tier("b");
        assertEquals(32, onFreshReplica(b, p1, null, cold1).cachedTokens());
        assertEquals(1, b.stats().faults());
    }

    /** INFO's count of bytes the server has sent to clients. */
    static long bytesSent() throws Exception {
        String info = send(Request.cmd(Command.INFO).arg("stats")).toString();
        for (String line : info.split("\r?\n")) {
            if (line.startsWith("total_net_output_bytes:")) return Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
        }
        throw new IllegalStateException("no total_net_output_bytes in INFO stats");
    }

    @Test
    void aHugeValueIsSkippedAndCountedWithoutBeingTransferred() throws Exception {
        publish(redis.tier("a"), new int[][] {p1}, new String[] {null});
        BlockKey[] k = chain(p1, null);
        // 64 MiB under the first block's key, made inside Redis (SETRANGE pads with zeros)
        send(Request.cmd(Command.SETRANGE).arg(data("kvfn", k[0])).arg(64 << 20).arg("x"));
        long before = bytesSent();
        RedisKvTier b = redis.tier("b");
        GenerationResult r = onFreshReplica(b, p1, null, cold1);
        long sent = bytesSent() - before;
        assertEquals(0, r.cachedTokens());
        assertEquals(1, b.stats().faults());
        assertTrue(sent < 8 << 20, "the value was not transferred (" + sent + " bytes sent in all)");
    }

    @Test
    void aValuePlantedWithoutTtlGetsOneWhenAReplicaPublishesItsKey() throws Exception {
        BlockKey[] k = chain(p1, null);
        set(data("kvfn", k[0]), new byte[] {1, 2, 3}); // planted first: SET NX of the real value loses
        assertEquals("-1", redis.server.command("TTL " + data("kvfn", k[0])).strip().replaceAll("[^0-9-]", ""));
        publish(redis.tier("a"), new int[][] {p1}, new String[] {null});
        long ttl = Long.parseLong(redis.server.command("TTL " + data("kvfn", k[0])).replaceAll("[^0-9-]", ""));
        assertTrue(ttl > 0 && ttl <= 3600, "the planted value expires like every other key: " + ttl);
        RedisKvTier b = redis.tier("b");
        assertEquals(0, onFreshReplica(b, p1, null, cold1).cachedTokens());
        assertEquals(1, b.stats().faults(), "and it is never served");
    }

    @Test
    void deploymentsWithTheirOwnKeyPrefixDoNotShareANamespace() throws Exception {
        publish(redis.tier("a", "team-a", RedisClient.SECRET), new int[][] {p1}, new String[] {null});
        String keys = redis.server.command("KEYS *");
        assertTrue(keys.contains("team-a:" + fp + ":d:"), keys);
        assertTrue(!keys.contains("kvfn:"), "nothing under the default prefix: " + keys);
        RedisKvTier other = redis.tier("b", "team-b", RedisClient.SECRET);
        assertEquals(0, onFreshReplica(other, p1, null, cold1).cachedTokens());
        assertEquals(0, other.stats().faults());
        RedisKvTier same = redis.tier("c", "team-a", RedisClient.SECRET);
        assertEquals((p1.length - 1) / 16 * 16, onFreshReplica(same, p1, null, cold1).cachedTokens());
    }

    @Test
    void sharingBytesWithoutASecretIsRefusedAtStartUp() {
        var e = assertThrows(IllegalArgumentException.class, () -> redis.tier("no-secret", "kvfn", null));
        assertTrue(e.getMessage().contains("set kvfn.kv.secret"), e.getMessage());
        assertNotEquals(-1, e.getMessage().indexOf("kvfn.kv.redis.store-bytes=false"));
        // an index without bytes needs none
        new RedisKvTier(redis.client, false, Duration.ofMillis(500), Duration.ofSeconds(5), Duration.ofHours(1), "idx", 16, "kvfn", null, false).close();
        assertThrows(IllegalArgumentException.class, () -> KvSecret.of("short"));
    }
}
