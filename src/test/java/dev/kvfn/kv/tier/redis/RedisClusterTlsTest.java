package dev.kvfn.kv.tier.redis;

import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.cpu.CpuEngine;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisClientType;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.RedisReplicas;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Redis tier on a Redis Cluster over TLS ({@code rediss://} to every node, cluster bus and replication over TLS
 * too, a throwaway CA), as the ACL user limited to the tier's commands: blocks published by one replica land on all
 * three masters (the client followed the slot map to each node's TLS port) and another replica restores every
 * prompt's full blocks with the uncached tokens, without an error.
 */
class RedisClusterTlsTest {
    static final int PROMPTS = 4;
    static final List<int[]> prompts = new ArrayList<>(), colds = new ArrayList<>();

    @TempDir
    static Path dir;
    static RedisCluster cluster;
    static Vertx vertx;
    static Redis client;

    @BeforeAll
    static void start() throws Exception {
        Path ca = dir.resolve("ca.crt"), key = dir.resolve("redis.key"), cert = dir.resolve("redis.crt");
        RedisTlsAclTest.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.resolve("ca.key").toString(),
                "-out", ca.toString(), "-days", "1", "-subj", "/CN=kvfn-test-ca");
        RedisTlsAclTest.openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.toString(), "-out", dir.resolve("redis.csr").toString(),
                "-subj", "/CN=localhost");
        Files.writeString(dir.resolve("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        RedisTlsAclTest.openssl("x509", "-req", "-in", dir.resolve("redis.csr").toString(), "-CA", ca.toString(), "-CAkey",
                dir.resolve("ca.key").toString(), "-CAcreateserial", "-out", cert.toString(), "-days", "1", "-extfile", dir.resolve("san.ext").toString());
        cluster = new RedisCluster(dir.resolve("cluster"), new RedisCluster.Tls(cert, key, ca));
        vertx = Vertx.vertx();
        // as Quarkus configures it: quarkus.redis.client-type=cluster, rediss:// hosts, the CA in the trust store
        RedisOptions o = new RedisOptions().setType(RedisClientType.CLUSTER).setUseReplicas(RedisReplicas.NEVER)
                .setMaxPoolSize(8).setMaxPoolWaiting(256).setNetClientOptions(new NetClientOptions().setSsl(true)
                        .setHostnameVerificationAlgorithm("HTTPS").setTrustOptions(new PemTrustOptions().addCertPath(ca.toString())));
        for (String url : cluster.urls()) {
            assertTrue(url.startsWith("rediss://"), url);
            o.addConnectionString(url);
        }
        client = Redis.createClient(vertx, o);
        try (CpuEngine e = RedisTierTest.engine(null, null, false)) {
            int[] story = e.tokenizer().encode(dev.kvfn.engine.cpu.PagedEngineTestAccess.STORY, true, false);
            for (int i = 0; i < PROMPTS; i++) {
                int[] p = story.clone();
                p[1 + i] = 5 + i; // a different first block: a chain of its own
                prompts.add(p);
                colds.add(RedisTierTest.run(e, p).tokens());
            }
        }
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) client.close();
        if (vertx != null) vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        if (cluster != null) cluster.close();
    }

    /** Lookups wait up to 30 s: a hang guard for a busy machine, where TLS round trips can pass the usual 2 s. */
    static RedisKvTier tier(String replica) {
        return new RedisKvTier(client, true, Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ofHours(1), replica, 256, "kvfn",
                RedisClient.SECRET, true);
    }

    @Test
    void aReplicaRestoresWhatAnotherPublishedOverTls() throws Exception {
        RedisKvTier a = tier("replica-a");
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("a")), a, true)) {
            for (int i = 0; i < PROMPTS; i++) assertArrayEquals(colds.get(i), RedisTierTest.run(e, prompts.get(i)).tokens());
            assertTrue(e.persist(Duration.ofSeconds(30)));
            assertTrue(a.drain(Duration.ofSeconds(30)));
        }
        assertEquals(0, a.stats().errors() + a.stats().timeouts(), a.stats().toString());
        assertTrue(a.stats().published() >= PROMPTS * 4L, a.stats().toString());
        for (RedisCluster.Node m : cluster.masters) { // read through the admin (plain) port
            String keys = m.server().command("KEYS *");
            assertTrue(keys.contains("kvfn:"), "every master holds blocks: " + keys);
        }
        RedisKvTier b = tier("replica-b");
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("b")), b, true)) {
            for (int i = 0; i < PROMPTS; i++) {
                GenerationResult r = RedisTierTest.run(e, prompts.get(i));
                assertEquals((prompts.get(i).length - 1) / 16 * 16, r.cachedTokens(), "prompt " + i + ": " + b.stats());
                assertArrayEquals(colds.get(i), r.tokens());
            }
        }
        assertEquals(0, b.stats().errors() + b.stats().timeouts() + b.stats().faults(), b.stats().toString());
    }
}
