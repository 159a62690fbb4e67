package dev.kvfn.bench.suite;

import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.engine.cpu.EngineOptions;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.kv.KvLayout;
import dev.kvfn.kv.seal.KvSecret;
import dev.kvfn.kv.tier.HostStoreOptions;
import dev.kvfn.kv.tier.TierStats;
import dev.kvfn.kv.tier.redis.RedisKvTier;
import dev.kvfn.kv.tier.redis.RedisServer;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * kvfn's time to first token by where a prompt's prefix is: nowhere (cold), in the pool, only in the host store,
 * only in Redis (a real {@code redis-server} on a free loopback port). Two engines on one model for the whole run:
 * <ul>
 *   <li>the writer, with a host store and Redis and a pool that holds one prompt: a fresh prefix is computed
 *       (cold), asked again (pool hit), pushed out of the pool by a second fresh prompt, then asked again (restored
 *       from the host store);</li>
 *   <li>the replica, with its own empty host store and the same Redis: it has never seen the prefix, so its blocks
 *       come from Redis.</li>
 * </ul>
 * Background writes are flushed before each restore is timed.
 */
final class CachePaths implements AutoCloseable {
    /** One round's times in milliseconds, and the tokens each hit found. */
    record Times(double coldMs, double poolMs, double hostMs, double redisMs, int cached) {}

    private static final int SUFFIX = 16;

    private final int prefix;
    private final RedisServer redis;
    private final Vertx vertx;
    private final Redis client;
    private final RedisKvTier writerTier, replicaTier;
    private final Path writerStore, replicaStore;
    private final CpuEngine writer, replica;
    private final int vocab, bos;

    CachePaths(Path model, int threads, int prefix, int contextLength) throws Exception {
        this.prefix = prefix;
        redis = new RedisServer();
        vertx = Vertx.vertx();
        client = Redis.createClient(vertx, new RedisOptions().setConnectionString(redis.url()).setMaxPoolSize(8)
                .setMaxPoolWaiting(1024).setMaxWaitingHandlers(4096));
        writerTier = tier("writer");
        replicaTier = tier("replica");
        Path shm = Files.isDirectory(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
        writerStore = Files.createTempDirectory(shm, "kvfn-suite-writer");
        replicaStore = Files.createTempDirectory(shm, "kvfn-suite-replica");
        replica = CpuEngine.load(model, null, EngineOptions.defaults(threads).withContextLimit(contextLength).withPoolBytes(256L << 20)
                .withHostStore(HostStoreOptions.at(replicaStore, 512L << 20)).withRemote(replicaTier));
        var c = replica.config();
        long block = new KvLayout(c.layers(), c.kvHeads(), c.headSize(), 16, KvElementType.F16).blockBytes();
        long onePrompt = ((prefix + SUFFIX) / 16 + 2) * block; // the writer's pool holds one prompt: the next pushes it out
        writer = CpuEngine.load(model, null, EngineOptions.defaults(threads).withContextLimit(contextLength).withPoolBytes(onePrompt + 4 * block)
                .withHostStore(HostStoreOptions.at(writerStore, 512L << 20)).withRemote(writerTier));
        vocab = writer.model().vocabSize();
        bos = writer.tokenizer().bos();
    }

    private RedisKvTier tier(String replica) {
        return new RedisKvTier(client, true, Duration.ofMillis(200), Duration.ofSeconds(10), Duration.ofHours(1), replica, 256, "kvfn",
                KvSecret.of("kvfn-bench-suite-secret-0123456789"), false);
    }

    /**
     * Compiles the paths every timed request takes (16-row steps, restores) before anything is timed; with
     * {@code wholeRound} also one untimed round, so the restores and the Redis fetch are compiled too.
     */
    void warmUp(SplittableRandom rnd, boolean wholeRound) throws Exception {
        for (CpuEngine e : new CpuEngine[] {writer, replica}) {
            for (int i = 0; i < 3; i++) {
                KvfnPeer.run(e, Prompt.randomIds(rnd, bos, vocab, 16), 2);
                KvfnPeer.run(e, Prompt.randomIds(rnd, bos, vocab, 64), 2);
            }
        }
        if (wholeRound) measure(rnd);
    }

    Times measure(SplittableRandom rnd) throws Exception {
        int[] shared = Prompt.randomIds(rnd, bos, vocab, prefix);
        GenerationResult cold = KvfnPeer.run(writer, withSuffix(shared, rnd), 1);
        if (cold.cachedTokens() != 0) throw new IllegalStateException("a fresh prompt found " + cold.cachedTokens() + " tokens cached");
        GenerationResult pool = expectHit(KvfnPeer.run(writer, withSuffix(shared, rnd), 1), "pool");
        KvfnPeer.run(writer, withSuffix(Prompt.randomIds(rnd, bos, vocab, prefix), rnd), 1); // pushes the prefix out of the pool
        quiesce();
        TierStats hostBefore = writer.stats().tier("host");
        GenerationResult host = expectHit(KvfnPeer.run(writer, withSuffix(shared, rnd), 1), "host store");
        if (writer.stats().tier("host").restores().bytes() == hostBefore.restores().bytes()) {
            throw new IllegalStateException("the host-store case restored nothing from the host store (the pool still held the prefix)");
        }
        TierStats redisBefore = replica.stats().tier("redis");
        GenerationResult fromRedis = expectHit(KvfnPeer.run(replica, withSuffix(shared, rnd), 1), "Redis");
        if (replica.stats().tier("redis").restores().bytes() == redisBefore.restores().bytes()) {
            throw new IllegalStateException("the Redis case restored nothing from Redis");
        }
        quiesce();
        return new Times(ms(cold), ms(pool), ms(host), ms(fromRedis), pool.cachedTokens());
    }

    private GenerationResult expectHit(GenerationResult r, String where) {
        if (r.cachedTokens() != prefix) {
            throw new IllegalStateException("the " + where + " case found " + r.cachedTokens() + " of " + prefix + " prefix tokens cached");
        }
        return r;
    }

    private void quiesce() throws Exception {
        writer.persist(Duration.ofSeconds(60));
        replica.persist(Duration.ofSeconds(60));
        writerTier.drain(Duration.ofSeconds(60));
        replicaTier.drain(Duration.ofSeconds(60));
    }

    private static double ms(GenerationResult r) {
        return r.ttftNanos() / 1e6;
    }

    private int[] withSuffix(int[] shared, SplittableRandom rnd) {
        int[] p = Arrays.copyOf(shared, shared.length + SUFFIX);
        for (int i = shared.length; i < p.length; i++) p[i] = 3 + rnd.nextInt(vocab - 3);
        return p;
    }

    @Override
    public void close() throws Exception {
        try (redis) {
            writer.close();
            replica.close();
            client.close();
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } finally {
            deleteTree(writerStore);
            deleteTree(replicaStore);
        }
    }

    private static void deleteTree(Path p) {
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
        } catch (Exception ignored) {
            // best effort: a temp directory
        }
    }
}
