package dev.kvfn.kv.tier.redis;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockKey;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Redis node that takes connections and requests and never answers (as one Redis Cluster master once did to 12
 * publications in a CI run): each publication's in-flight permit must come back after the fetch timeout, counted
 * as a timeout, so the publications after them are sent, not dropped. Before, the permits stayed taken for good.
 */
class RedisSilentNodeTest {
    @Test
    void publicationsToANodeThatNeverAnswersGiveTheirPermitsBack() throws Exception {
        List<Socket> accepted = new CopyOnWriteArrayList<>();
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    while (true) {
                        Socket s = silent.accept();
                        accepted.add(s);
                        Thread.ofPlatform().daemon().start(() -> discard(s));
                    }
                } catch (IOException closed) {
                    // the test is over
                }
            });
            Vertx vertx = Vertx.vertx();
            try {
                Redis client = Redis.createClient(vertx, new RedisOptions()
                        .setConnectionString("redis://127.0.0.1:" + silent.getLocalPort()).setMaxPoolSize(2).setMaxPoolWaiting(64));
                int permits = 4;
                var tier = new RedisKvTier(client, false, Duration.ofMillis(200), Duration.ofMillis(300), Duration.ofHours(1),
                        "silent", permits, "kvfn", null, false);
                tier.attach("test", new byte[32], new BlockFormat("test", 16, 0));
                for (int round = 0; round < 3; round++) {
                    for (int i = 0; i < permits; i++) tier.publish(key(round * permits + i), null, new int[16], false, null);
                    // every permit is taken now; they come back once the fetch timeout has passed (a state, not a clock:
                    // the bound below is a hang guard only)
                    assertTrue(tier.drain(Duration.ofMinutes(5)), "permits still held: " + tier.stats());
                }
                var stats = tier.stats();
                assertEquals(0, stats.published(), stats.toString());
                assertEquals(0, stats.publishDropped(), "no publication dropped for want of a permit: " + stats);
                assertTrue(stats.timeouts() >= 3L * permits, "each unanswered publication counted: " + stats);
                // the silent node keeps every connection, and the tier gives each unanswered batch's place back after its
                // deadline: later batches go on to the client, whose queue (2 connections + 64 waiting) refuses them
                // once full, counted as errors, instead of piling up in the tier behind places that never come back
                long errorsBefore = stats.errors();
                int rounds = (2 + 64) / permits + 2;
                for (int round = 0; round < rounds; round++) {
                    for (int i = 0; i < permits; i++) tier.publish(key(1000 + round * permits + i), null, new int[16], false, null);
                    assertTrue(tier.drain(Duration.ofMinutes(5)), "permits still held: " + tier.stats());
                }
                assertTrue(tier.stats().errors() > errorsBefore, "batches past the client's queue fail, counted: " + tier.stats());
            } finally {
                vertx.close().toCompletionStage().toCompletableFuture().join();
                for (Socket s : accepted) s.close();
            }
        }
    }

    private static BlockKey key(int i) {
        byte[] b = new byte[32];
        b[0] = (byte) i;
        b[1] = (byte) (i >> 8);
        return BlockKey.of(b);
    }

    private static void discard(Socket s) {
        try (InputStream in = s.getInputStream()) {
            byte[] buf = new byte[4096];
            while (in.read(buf) >= 0) {
                // read the requests, answer nothing
            }
        } catch (IOException closed) {
            // connection closed
        }
    }
}
