package dev.kvfn.kv.tier.redis;

import dev.kvfn.kv.seal.KvSecret;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** A real redis-server on a loopback port and a Vert.x client to it, for the Redis tier's tests. */
final class RedisClient implements AutoCloseable {
    final RedisServer server;
    final Vertx vertx;
    final Redis client;

    RedisClient() throws Exception {
        server = new RedisServer();
        vertx = Vertx.vertx();
        client = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()).setMaxPoolSize(8).setMaxPoolWaiting(256));
    }

    /** The tests' KV secret (a real deployment's comes from a Kubernetes Secret). */
    static final KvSecret SECRET = KvSecret.of("kvfn-test-secret-0123456789abcdef");

    /** A tier as the tests use it: bytes stored, deadlines generous for a busy machine (a lookup slower than 2 s would
     *  turn an expected hit into a miss). */
    RedisKvTier tier(String replica) {
        return tier(replica, "kvfn", SECRET);
    }

    RedisKvTier tier(String replica, String keyPrefix, KvSecret secret) {
        return new RedisKvTier(client, true, Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofHours(1), replica, 256, keyPrefix, secret, false);
    }

    @Override
    public void close() throws Exception {
        client.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        server.close();
    }
}
