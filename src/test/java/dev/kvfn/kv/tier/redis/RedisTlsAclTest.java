package dev.kvfn.kv.tier.redis;

import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.cpu.CpuEngine;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Redis tier over TLS ({@code rediss://}, a throwaway CA made with openssl) as an ACL user allowed only the
 * commands the tier sends, on its own key prefix ({@code ~kvfn:*}): a prefix published by one replica is restored
 * by another with the uncached run's tokens and no error. The same user cannot read another prefix, flush, or
 * reconfigure Redis; a tier on another prefix is refused (NOPERM, counted) and still answers right; a plain
 * connection or one that does not trust the CA gets nothing.
 */
class RedisTlsAclTest {
    /** What the tier sends (the client's HELLO ... AUTH is allowed before authentication). */
    static final List<String> TIER_COMMANDS = List.of("hget", "hset", "hincrby", "getrange", "set", "expire", "del",
            "zincrby", "zremrangebyrank", "zrevrange");
    static final String USER = "kvfn", PASSWORD = "kvfn-test-acl-password-0123456789";

    @TempDir
    static Path dir;
    static RedisServer server;
    static int tlsPort;
    static Vertx vertx;
    static Redis client;
    static int[] prompt, cold;

    @BeforeAll
    static void start() throws Exception {
        Path ca = dir.resolve("ca.crt"), key = dir.resolve("redis.key"), cert = dir.resolve("redis.crt");
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.resolve("ca.key").toString(), "-out", ca.toString(),
                "-days", "1", "-subj", "/CN=kvfn-test-ca");
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.toString(), "-out", dir.resolve("redis.csr").toString(),
                "-subj", "/CN=localhost");
        Files.writeString(dir.resolve("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        openssl("x509", "-req", "-in", dir.resolve("redis.csr").toString(), "-CA", ca.toString(), "-CAkey", dir.resolve("ca.key").toString(),
                "-CAcreateserial", "-out", cert.toString(), "-days", "1", "-extfile", dir.resolve("san.ext").toString());
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            tlsPort = s.getLocalPort();
        }
        List<String> args = new ArrayList<>(List.of("--tls-port", Integer.toString(tlsPort), "--tls-cert-file", cert.toString(),
                "--tls-key-file", key.toString(), "--tls-ca-cert-file", ca.toString(), "--tls-auth-clients", "no",
                "--user", USER, "on", ">" + PASSWORD, "~" + "kvfn:*", "resetchannels", "-@all"));
        for (String c : TIER_COMMANDS) args.add("+" + c);
        // the plain port stays for the test's own admin commands (the default user, loopback only); the tier uses TLS
        server = new RedisServer(args);
        vertx = Vertx.vertx();
        // as Quarkus configures it from quarkus.redis.hosts=rediss://host:port?user=kvfn and quarkus.redis.password
        client = Redis.createClient(vertx, tls().setConnectionString("rediss://127.0.0.1:" + tlsPort + "?user=" + USER).setPassword(PASSWORD));
        try (CpuEngine e = RedisTierTest.engine(null, null, false)) {
            prompt = e.tokenizer().encode(dev.kvfn.engine.cpu.PagedEngineTestAccess.STORY, true, false);
            cold = RedisTierTest.run(e, prompt).tokens();
        }
    }

    static RedisOptions tls() {
        return new RedisOptions().setMaxPoolSize(8).setMaxPoolWaiting(256).setNetClientOptions(new NetClientOptions().setSsl(true)
                .setHostnameVerificationAlgorithm("HTTPS").setTrustOptions(new PemTrustOptions().addCertPath(dir.resolve("ca.crt").toString())));
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) client.close();
        if (vertx != null) vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        if (server != null) server.close();
    }

    static void openssl(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (p.waitFor() != 0) throw new IOException("openssl " + String.join(" ", args) + " failed");
    }

    RedisKvTier tier(String replica, String prefix) {
        return new RedisKvTier(client, true, Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofHours(1), replica, 256, prefix,
                RedisClient.SECRET, false);
    }

    @Test
    void theTierWorksOverTlsAsAnAclUserLimitedToItsCommandsAndPrefix() throws Exception {
        RedisKvTier a = tier("replica-a", "kvfn");
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("a")), a, true)) {
            assertArrayEquals(cold, RedisTierTest.run(e, prompt).tokens());
            assertArrayEquals(cold, RedisTierTest.run(e, prompt).tokens()); // a hit: the hot set is written too
            assertTrue(e.persist(Duration.ofSeconds(10)));
            assertTrue(a.drain(Duration.ofSeconds(10)));
        }
        assertEquals(0, a.stats().errors() + a.stats().timeouts(), "every command the tier sent was allowed: " + a.stats());
        assertTrue(a.stats().published() > 0);
        RedisKvTier b = tier("replica-b", "kvfn");
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("b")), b, true)) {
            GenerationResult r = RedisTierTest.run(e, prompt);
            assertEquals((prompt.length - 1) / 16 * 16, r.cachedTokens(), "restored over TLS: " + b.stats());
            assertArrayEquals(cold, r.tokens());
            assertTrue(b.drain(Duration.ofSeconds(10)));
            assertEquals(1, b.hotChains(64).size(), "prewarm's reads are allowed too");
        }
        assertEquals(0, b.stats().errors() + b.stats().timeouts() + b.stats().faults(), b.stats().toString());
        // nothing stored in clear: every value is sealed, every key under the prefix
        String keys = server.command("KEYS *");
        assertTrue(keys.contains("kvfn:") && !keys.contains("other:"), keys);

        // least privilege: another prefix, other commands, refused
        assertTrue(refused(Request.cmd(Command.GET).arg("other:secret")).contains("NOPERM"));
        assertTrue(refused(Request.cmd(Command.FLUSHALL)).contains("NOPERM"));
        assertTrue(refused(Request.cmd(Command.CONFIG).arg("SET").arg("dir").arg("/tmp")).contains("NOPERM"));
        assertTrue(refused(Request.cmd(Command.KEYS).arg("*")).contains("NOPERM"));
        RedisKvTier other = tier("replica-c", "team-b");
        try (CpuEngine e = RedisTierTest.engine(Files.createDirectories(dir.resolve("c")), other, true)) {
            GenerationResult r = RedisTierTest.run(e, prompt);
            assertEquals(0, r.cachedTokens());
            assertArrayEquals(cold, r.tokens());
        }
        assertTrue(other.stats().errors() > 0, "refusals are counted: " + other.stats());
    }

    @Test
    void withoutTlsOrWithoutTrustingTheCaNothingConnects() throws Exception {
        Redis plain = Redis.createClient(vertx, new RedisOptions().setConnectionString("redis://" + USER + ":" + PASSWORD + "@127.0.0.1:" + tlsPort));
        Redis untrusting = Redis.createClient(vertx, new RedisOptions().setNetClientOptions(new NetClientOptions().setSsl(true))
                .setConnectionString("rediss://" + USER + ":" + PASSWORD + "@127.0.0.1:" + tlsPort));
        Redis wrongPassword = Redis.createClient(vertx, tls().setConnectionString("rediss://" + USER + ":wrong@127.0.0.1:" + tlsPort));
        try {
            for (Redis r : List.of(plain, untrusting, wrongPassword)) {
                var f = r.send(Request.cmd(Command.HGET).arg("kvfn:x").arg("size")).toCompletionStage().toCompletableFuture();
                assertThrows(Exception.class, () -> f.get(30, TimeUnit.SECONDS));
            }
        } finally {
            plain.close();
            untrusting.close();
            wrongPassword.close();
        }
    }

    static String refused(Request r) throws Exception {
        try {
            client.send(r).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            return "allowed";
        } catch (ExecutionException e) {
            return String.valueOf(e.getCause());
        }
    }
}
