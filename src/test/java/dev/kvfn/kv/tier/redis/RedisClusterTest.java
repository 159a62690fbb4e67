package dev.kvfn.kv.tier.redis;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisClientType;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.RedisReplicas;
import io.vertx.redis.client.Request;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Redis tier on a real Redis Cluster (3 masters, 3 replicas, on loopback, an ACL user limited to the tier's
 * commands): a block's keys share a slot (its hash
 * tag) while blocks spread over all three masters, every batch that spans slots is split by slot (the same batch
 * unsplit is refused CROSSSLOT by the client), and a replica restores what another published. A master killed while
 * requests run fails no request and changes no token: its blocks are misses, counted; once its replica has taken
 * over, hits resume (its slots' blocks included), and the killed node comes back as a replica.
 */
class RedisClusterTest {
    static final int PROMPTS = 8;
    static final List<int[]> prompts = new ArrayList<>(), colds = new ArrayList<>();
    static String fp;

    @TempDir
    Path dir;
    RedisCluster cluster;
    Vertx vertx;
    Redis client;

    @BeforeAll
    static void colds() throws Exception {
        try (CpuEngine e = RedisTierTest.engine(null, null, false)) {
            int[] story = e.tokenizer().encode(dev.kvfn.engine.cpu.PagedEngineTestAccess.STORY, true, false);
            for (int i = 0; i < PROMPTS; i++) {
                int[] p = story.clone();
                p[1 + i] = 5 + i; // a different first block: a chain of its own
                prompts.add(p);
                colds.add(RedisTierTest.run(e, p).tokens());
            }
            fp = e.fingerprint().shortHex();
        }
    }

    @BeforeEach
    void start() throws Exception {
        cluster = new RedisCluster(dir.resolve("cluster"));
        vertx = Vertx.vertx();
        RedisOptions o = new RedisOptions().setType(RedisClientType.CLUSTER).setUseReplicas(RedisReplicas.NEVER)
                .setMaxPoolSize(8).setMaxPoolWaiting(256);
        for (String url : cluster.urls()) o.addConnectionString(url);
        client = Redis.createClient(vertx, o);
    }

    @AfterEach
    void stop() throws Exception {
        if (client != null) client.close();
        if (vertx != null) vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        if (cluster != null) cluster.close();
    }

    RedisKvTier tier(String replica) {
        return new RedisKvTier(client, true, Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofHours(1), replica, 256, "kvfn",
                RedisClient.SECRET, true);
    }

    /** Replica A computes prompts [0, n) and publishes every block to the cluster. */
    void publish(int n) throws Exception {
        RedisKvTier a = tier("replica-a");
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("a")), a, true)) {
            for (int i = 0; i < n; i++) assertArrayEquals(colds.get(i), RedisTierTest.run(e, prompts.get(i)).tokens());
            assertTrue(e.persist(Duration.ofSeconds(30)));
            assertTrue(a.drain(Duration.ofSeconds(30)));
        }
        assertEquals(0, a.stats().errors() + a.stats().timeouts(), "no CROSSSLOT, no error: " + a.stats());
        assertTrue(a.stats().published() >= n * 4L, a.stats().toString());
    }

    static int full(int i) {
        return (prompts.get(i).length - 1) / 16 * 16;
    }

    /** The keys of prompt i's chain of full blocks. */
    static List<BlockKey> chain(CpuEngine probe, int i) {
        var h = new BlockHasher(probe.fingerprint().digest(), probe.keyLayoutId());
        List<BlockKey> keys = new ArrayList<>();
        BlockKey k = null;
        for (int b = 0; b < full(i) / 16; b++) keys.add(k = h.key(k, null, prompts.get(i), b * 16, 16));
        return keys;
    }

    @Test
    void keysSpreadOverTheSlotsAndBatchesAreSplitBySlot() throws Exception {
        publish(4);
        // every key's slot as the server computes it, our CRC16 agreeing; a block's data and meta keys share one
        Set<Integer> slots = new HashSet<>();
        for (RedisCluster.Node m : cluster.masters) {
            List<String> keys = keys(m);
            assertTrue(keys.size() > 2, "every master holds blocks: " + m.server().url() + " " + keys);
            for (String key : keys) {
                int slot = Integer.parseInt(m.server().command("CLUSTER KEYSLOT " + key).replaceAll("[^0-9]", ""));
                assertEquals(slot, HashSlot.of(key), key);
                assertTrue(slot >= m.firstSlot() && slot <= m.lastSlot());
                slots.add(slot);
                if (key.contains(":d:")) assertTrue(keys.contains(key.replace(":d:", ":m:")), "its meta key is on the same node: " + key);
            }
        }
        assertTrue(slots.size() > 10, "blocks spread over many slots: " + slots.size());
        // the client refuses a batch spanning nodes: what the tier's splitting avoids
        BlockKey k0, k1 = null;
        try (CpuEngine probe = RedisTierTest.engine(null, null, false)) {
            List<BlockKey> c = chain(probe, 0);
            k0 = c.get(0);
            for (BlockKey k : c) if (cluster.masterOf(HashSlot.of("kvfn:" + fp + ":m:{" + k.hex() + "}")) != cluster.masterOf(HashSlot.of("kvfn:" + fp + ":m:{" + k0.hex() + "}"))) k1 = k;
        }
        assertTrue(k1 != null, "prompt 0's chain spans two masters");
        var unsplit = client.batch(List.of(Request.cmd(Command.HGET).arg("kvfn:" + fp + ":m:{" + k0.hex() + "}").arg("size"),
                Request.cmd(Command.HGET).arg("kvfn:" + fp + ":m:{" + k1.hex() + "}").arg("size")));
        var refused = assertThrows(ExecutionException.class, () -> unsplit.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS));
        assertTrue(String.valueOf(refused.getCause()).contains("CROSSSLOT"), String.valueOf(refused.getCause()));
        // replica B, empty, restores all four chains from the cluster; prewarm's walk over the hot set spans slots too
        RedisKvTier b = tier("replica-b");
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("b")), b, true)) {
            for (int i = 0; i < 4; i++) {
                GenerationResult r = RedisTierTest.run(e, prompts.get(i));
                assertEquals(full(i), r.cachedTokens(), "restored from the cluster: " + b.stats());
                assertArrayEquals(colds.get(i), r.tokens());
            }
            assertTrue(b.drain(Duration.ofSeconds(30)));
            List<BlockKey[]> hot = b.hotChains(64);
            assertEquals(4, hot.size(), "every hit chain is walked back to its root");
            for (BlockKey[] chain : hot) assertEquals(full(0) / 16, chain.length);
        }
        assertEquals(0, b.stats().errors() + b.stats().timeouts() + b.stats().faults(), b.stats().toString());
        assertEquals(4, b.stats().lookups());
    }

    /**
     * 64 batches at once (the tier's default publications in flight) through a client with Quarkus's default pool (6
     * connections per node, 24 waiting): sent straight to the client, 31-40 of them failed here in every round
     * ("Failed to connect to all nodes of the cluster"); through RedisBatches, which keeps at most the pool's size
     * with the client, every one is answered. Reads and writes both.
     */
    @Test
    void aBurstOfBatchesWaitsForThePoolInsteadOfFailing() throws Exception {
        RedisOptions o = new RedisOptions().setType(RedisClientType.CLUSTER).setUseReplicas(RedisReplicas.NEVER)
                .setMaxPoolSize(6).setMaxPoolWaiting(24);
        for (String url : cluster.urls()) o.addConnectionString(url);
        Redis small = Redis.createClient(vertx, o);
        try {
            RedisBatches batches = new RedisBatches(small, true, 6, Duration.ofMinutes(5));
            List<Throwable> failed = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int round = 0; round < 3; round++) {
                List<java.util.concurrent.CompletableFuture<List<io.vertx.redis.client.Response>>> sent = new ArrayList<>();
                for (int i = 0; i < 64; i++) {
                    Batch b = new Batch(2);
                    b.add(Command.SET, "kvfn:burst:{" + round + "-" + i + "}a").arg("v" + i);
                    b.add(Command.SET, "kvfn:burst:{" + round + "-" + i + "}b").arg("v" + i);
                    sent.add(batches.sendWrite(b, failed::add).toCompletionStage().toCompletableFuture());
                    Batch g = new Batch(1);
                    g.add(Command.GETRANGE, "kvfn:burst:{" + round + "-" + (i / 2) + "}a").arg(0).arg(-1);
                    sent.add(batches.send(g, failed::add).toCompletionStage().toCompletableFuture());
                }
                for (var f : sent) f.get(5, TimeUnit.MINUTES); // an ExecutionException is the failure this test is about
            }
            assertEquals(List.of(), failed);
        } finally {
            small.close();
        }
    }

    @Test
    void aBatchSplitBySlotAnswersInOrderAndAFailedSlotAnswersNulls() throws Exception {
        RedisBatches batches = new RedisBatches(client, true, 8, Duration.ofMinutes(5));
        List<Throwable> failed = java.util.Collections.synchronizedList(new ArrayList<>());
        Batch set = new Batch(20);
        Set<Integer> slots = new HashSet<>();
        Set<RedisCluster.Node> nodes = new HashSet<>();
        for (int i = 0; i < 20; i++) {
            String key = "kvfn:order:{" + i + "}";
            set.add(Command.SET, key).arg("v" + i);
            slots.add(HashSlot.of(key));
            nodes.add(cluster.masterOf(HashSlot.of(key)));
        }
        assertEquals(3, nodes.size(), "the batch spans every master");
        assertTrue(slots.size() > 10);
        batches.send(set, failed::add).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        // one command the ACL user may not run (another prefix: NOPERM) in a slot of its own, amid the others
        String forbidden = null;
        for (int x = 0; forbidden == null; x++) if (!slots.contains(HashSlot.of("other:{" + x + "}"))) forbidden = "other:{" + x + "}";
        Batch get = new Batch(21);
        for (int i = 0; i < 20; i++) {
            if (i == 7) get.add(Command.GETRANGE, forbidden).arg(0).arg(-1);
            get.add(Command.GETRANGE, "kvfn:order:{" + i + "}").arg(0).arg(-1);
        }
        var replies = batches.send(get, failed::add).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertEquals(21, replies.size());
        for (int i = 0, at = 0; i < 20; i++, at++) {
            if (i == 7) assertEquals(null, replies.get(at++), "the failed slot answers null");
            assertEquals("v" + i, replies.get(at).toString(), "in the batch's order");
        }
        assertEquals(1, failed.size());
        assertTrue(String.valueOf(failed.get(0)).contains("NOPERM"), String.valueOf(failed.get(0)));
        // nothing answered: the whole batch fails
        Batch none = new Batch(2);
        none.add(Command.GETRANGE, forbidden).arg(0).arg(-1);
        String another = null;
        for (int x = 0; another == null; x++) if (HashSlot.of("other:[" + x + "]") != HashSlot.of(forbidden)) another = "other:[" + x + "]";
        none.add(Command.GETRANGE, another).arg(0).arg(-1);
        var all = batches.send(none, failed::add).toCompletionStage().toCompletableFuture();
        assertThrows(ExecutionException.class, () -> all.get(30, TimeUnit.SECONDS));
    }

    @Test
    void aMasterKilledMidRunFailsNoRequestAndChangesNoToken() throws Exception {
        publish(PROMPTS);
        cluster.awaitReplicated();
        // the master holding prompt 1's first block is killed while prompts 1 and 2 are being served
        RedisCluster.Node victim, survivor;
        int afterFailover = -1;
        try (CpuEngine probe = RedisTierTest.engine(null, null, false)) {
            victim = cluster.masterOf(HashSlot.of("kvfn:" + fp + ":m:{" + chain(probe, 1).get(0).hex() + "}"));
            survivor = cluster.replicaOf(victim);
            for (int i = 4; i < PROMPTS && afterFailover < 0; i++) {
                if (cluster.masterOf(HashSlot.of("kvfn:" + fp + ":m:{" + chain(probe, i).get(0).hex() + "}")) == victim) afterFailover = i;
            }
        }
        assertTrue(afterFailover >= 0, "a later prompt starts on the victim's slots");
        RedisKvTier c = tier("replica-c");
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("c")), c, true)) {
            GenerationResult before = RedisTierTest.run(e, prompts.get(0));
            assertEquals(full(0), before.cachedTokens());
            assertArrayEquals(colds.get(0), before.tokens());

            var p1 = e.submit(new GenerationRequest(prompts.get(1), 30, SamplingParams.GREEDY), null);
            var p2 = e.submit(new GenerationRequest(prompts.get(2), 30, SamplingParams.GREEDY), null);
            victim.server().stop(); // SIGKILL, mid-run
            assertArrayEquals(colds.get(1), p1.result().get(60, TimeUnit.SECONDS).tokens());
            assertArrayEquals(colds.get(2), p2.result().get(60, TimeUnit.SECONDS).tokens());
            // while the master is down and not failed over: misses, counted, right tokens
            GenerationResult down = RedisTierTest.run(e, prompts.get(3));
            assertArrayEquals(colds.get(3), down.tokens());
            assertTrue(c.stats().errors() + c.stats().timeouts() > 0, "the dead master is visible: " + c.stats());
            assertTrue(e.stats().tier("redis").faults() > 0, e.stats().toString());

            // its replica takes over; once the client sees the new slot map (a probe on the victim's slots answers), hits resume
            cluster.failOver(survivor, victim);
            String probeKey = probeKey(victim);
            RedisCluster.await("the client routes to the new master", () -> {
                try {
                    client.send(Request.cmd(Command.HGET).arg(probeKey).arg("size")).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
                    return true;
                } catch (Exception ex) {
                    return false;
                }
            });
            long hitsBefore = c.stats().hitBlocks();
            GenerationResult resumed = RedisTierTest.run(e, prompts.get(afterFailover));
            assertEquals(full(afterFailover), resumed.cachedTokens(), "its blocks, first on the killed master, served by its replica: " + c.stats());
            assertArrayEquals(colds.get(afterFailover), resumed.tokens());
            assertTrue(c.stats().hitBlocks() > hitsBefore);

            // the killed node restarts and rejoins as a replica; serving goes on
            victim.server().start();
            RedisCluster.await("the old master rejoined as a replica", () -> RedisCluster.info(survivor.server(), "INFO replication").contains("connected_slaves:1"));
            for (int i = 4; i < PROMPTS; i++) {
                if (i == afterFailover) continue;
                GenerationResult r = RedisTierTest.run(e, prompts.get(i));
                assertArrayEquals(colds.get(i), r.tokens());
                assertEquals(full(i), r.cachedTokens(), "hits after the node returned: " + c.stats());
            }
        }
    }

    /** A key in {@code master}'s slots (the client answers for it only once its slot map routes them to a live node). */
    static String probeKey(RedisCluster.Node master) {
        for (int i = 0; ; i++) {
            String key = "kvfn:probe:{" + i + "}";
            if (owns(master, HashSlot.of(key))) return key;
        }
    }

    static boolean owns(RedisCluster.Node master, int slot) {
        return slot >= master.firstSlot() && slot <= master.lastSlot();
    }

    static List<String> keys(RedisCluster.Node m) throws Exception {
        List<String> keys = new ArrayList<>();
        for (String line : m.server().command("KEYS *").split("\r\n")) {
            if (!line.isEmpty() && !line.startsWith("*") && !line.startsWith("$")) keys.add(line);
        }
        return keys;
    }
}
