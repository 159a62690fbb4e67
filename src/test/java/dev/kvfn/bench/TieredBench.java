package dev.kvfn.bench;

import dev.kvfn.engine.GenerationResult;
import dev.kvfn.kv.tier.TierStats;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.engine.cpu.EngineOptions;
import dev.kvfn.kv.tier.HostStoreOptions;
import dev.kvfn.kv.tier.redis.RedisKvTier;
import dev.kvfn.kv.tier.redis.RedisServer;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Tiered KV benchmark: {@code ./mvnw -B -Pbench verify -Dkvfn.bench.main=dev.kvfn.bench.TieredBench}.
 * Synthetic llama-1b Q8_0, f16 KV, 2 threads, a real redis-server on loopback. TTFT of a 1024-token
 * prompt whose first 1008 tokens are (a) in the pool, (b) only in the host store after an engine
 * restart, (c) only in Redis (a replica with an empty host store), (d) nowhere; then restore
 * throughput of each tier next to a plain memcpy of the same bytes.
 */
public final class TieredBench {
    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("kvfn.bench.threads", 2);
        Path dir = Path.of(System.getProperty("kvfn.bench.dir", "target/bench-models"));
        Files.createDirectories(dir);
        Path model = dir.resolve("llama-1b-Q8_0.gguf");
        if (!Files.exists(model)) SyntheticModel.write(SyntheticModel.Shape.byName("llama-1b"), GgmlType.Q8_0, 1L, model);
        Path shm = Files.isDirectory(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
        Path hostA = Files.createTempDirectory(shm, "kvfn-bench-a"), hostB = Files.createTempDirectory(shm, "kvfn-bench-b");
        System.out.printf("kvfn tiered KV benchmark: synthetic llama-1b Q8_0, f16 KV, %d threads, host store in %s%n", threads, shm);
        System.out.printf("machine: %s, %d cores visible, %s %s%n", Bench.cpuName(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name"), System.getProperty("java.version"));
        var rnd = new SplittableRandom(11);
        StringBuilder table = new StringBuilder();
        // the restore path alone first: 40 rounds also leave it JIT-compiled for the engines' restores below
        double[] warmRestore = hostRestoreGBs(shm);
        try (RedisServer server = new RedisServer()) {
            Vertx vertx = Vertx.vertx();
            Redis client = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()).setMaxPoolSize(8)
                    .setMaxPoolWaiting(1024).setMaxWaitingHandlers(4096));
            System.out.println("redis-server: " + server.binary());
            int vocab, bos;
            int[] prefix;
            double pool, none;
            int cachedPool;
            // replica 1: computes the prefix (write-through to its host store, published to Redis), then a pool hit
            RedisKvTier t1 = tier(client), t2 = tier(client), t3 = tier(client);
            try (CpuEngine e = engine(model, threads, hostA, t1)) {
                vocab = e.model().vocabSize();
                bos = e.tokenizer().bos();
                warmUp(e, rnd); // JIT: the 16-row step every measured case runs must be compiled before any is timed
                prefix = Bench.randomPrompt(rnd, bos, vocab, 1008);
                Bench.run(e, withSuffix(prefix, rnd, vocab), 1);
                quiesce(e, t1);
                GenerationResult r = Bench.run(e, withSuffix(prefix, rnd, vocab), 1);
                pool = r.ttftNanos() / 1e6;
                cachedPool = r.cachedTokens();
                GenerationResult cold = Bench.run(e, Bench.randomPrompt(rnd, bos, vocab, 1024), 1);
                none = cold.ttftNanos() / 1e6;
                quiesce(e, t1);
            }
            // replica 1 restarted on the same host store, then once more (the same restore with the JIT warm)
            Restart host = restart(model, threads, hostA, t2, withSuffix(prefix, rnd, vocab), "host", rnd);
            double hostWarmGBs = restart(model, threads, hostA, tier(client), withSuffix(prefix, rnd, vocab), "host", rnd).gbs();
            // a warm engine on the same host store whose pool holds one prefix: two prefixes alternate, each restored
            double[] steady = steadyRestoreGBs(model, threads, hostA, prefix, rnd, vocab, bos);
            // replica 2: empty host store, same Redis
            Restart redis = restart(model, threads, hostB, t3, withSuffix(prefix, rnd, vocab), "redis", rnd);
            client.close();
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            double memcpy = memcpyGBs(63 * 512 * 1024L)[0];
            double memcpyMapped = mappedMemcpyGBs(shm, 63 * 512 * 1024L);
            double memcpyStreaming = memcpyGBs(1L << 30)[1]; // past every cache: the machine's copy bandwidth
            double memcpyStreaming2 = memcpy2GBs(1L << 30);
            table.append(String.format("%nTTFT, 1024-token prompt, first 1008 tokens cached where stated (ms)%n"));
            table.append(String.format("| where the 1008-token prefix is | cached tokens | TTFT ms | vs nowhere |%n|---|---|---|---|%n"));
            table.append(String.format("| (a) pool | %d | %.1f | %.3fx |%n", cachedPool, pool, pool / none));
            table.append(String.format("| (b) host store, after an engine restart | %d | %.1f | %.3fx |%n", host.cached(), host.ttftMillis(), host.ttftMillis() / none));
            table.append(String.format("| (c) Redis only (replica with an empty host store) | %d | %.1f | %.3fx |%n", redis.cached(), redis.ttftMillis(), redis.ttftMillis() / none));
            table.append(String.format("| (d) nowhere | 0 | %.1f | 1.000x |%n", none));
            table.append(String.format("%nRestore throughput (63 blocks of 512 KiB = 31.5 MiB)%n"));
            table.append(String.format("| path | GB/s |%n|---|---|%n"));
            table.append(String.format("| host store -> pool in the engine, first restore of a restarted engine (2 threads) | %.2f |%n", host.gbs()));
            table.append(String.format("| host store -> pool in the engine, restarted again (2 threads) | %.2f |%n", hostWarmGBs));
            table.append(String.format("| host store -> pool in a warm engine, %d restores of 47-63 blocks (2 threads): median (min-max) | %.2f (%.2f-%.2f) |%n",
                    steady.length, steady[steady.length / 2], steady[0], steady[steady.length - 1]));
            table.append(String.format("| host store -> native, `HostStore.restore` (copy + CRC32C verify), one thread, JIT warm: best / median of 40 | %.2f / %.2f |%n",
                    warmRestore[0], warmRestore[1]));
            table.append(String.format("| host store -> native, the engine's path (plan, copy + verify on 2 threads taking blocks from a shared cursor, commit), JIT warm: best / median of 40 | %.2f / %.2f |%n",
                    warmRestore[2], warmRestore[3]));
            table.append(String.format("| Redis -> host store (2 round trips on loopback + CRC32C) | %.2f |%n", redis.gbs()));
            table.append(String.format("| plain memcpy, 1 GiB native -> native, one thread (DRAM bandwidth), median of 20 | %.2f |%n", memcpyStreaming));
            table.append(String.format("| plain memcpy, 1 GiB native -> native, two threads (one half each), median of 10 | %.2f |%n", memcpyStreaming2));
            table.append(String.format("| plain memcpy, 31.5 MiB mapped /dev/shm -> native, one thread, cache-hot (best of 20) | %.2f |%n", memcpyMapped));
            table.append(String.format("| plain memcpy, 31.5 MiB native -> native, one thread, cache-hot (best of 20) | %.2f |%n", memcpy));
        } finally {
            deleteTree(hostA);
            deleteTree(hostB);
        }
        System.out.print(table);
    }

    record Restart(double ttftMillis, int cached, double gbs) {}

    /** A new engine on {@code host} (JIT warmed, writes flushed) answers {@code prompt}; its TTFT and the tier's restore rate. */
    static Restart restart(Path model, int threads, Path host, RedisKvTier remote, int[] prompt, String tier, SplittableRandom rnd)
            throws Exception {
        try (CpuEngine e = engine(model, threads, host, remote)) {
            warmUp(e, rnd);
            quiesce(e, remote);
            GenerationResult r = Bench.run(e, prompt, 1);
            TierStats t = e.stats().tier(tier);
            return new Restart(r.ttftNanos() / 1e6, r.cachedTokens(), t.restores().bytes() / (double) t.restores().nanos());
        }
    }

    static RedisKvTier tier(Redis client) {
        return new RedisKvTier(client, true, Duration.ofMillis(200), Duration.ofSeconds(10), Duration.ofHours(1), "bench", 256, "kvfn",
                dev.kvfn.kv.seal.KvSecret.of("kvfn-bench-secret-0123456789"), false);
    }

    /** Waits until the host store and Redis have every block so far, so background writes do not share the timed CPU. */
    static void quiesce(CpuEngine e, RedisKvTier tier) throws Exception {
        e.persist(java.time.Duration.ofSeconds(60));
        tier.drain(Duration.ofSeconds(60));
        Thread.sleep(500);
    }

    static CpuEngine engine(Path model, int threads, Path host, RedisKvTier tier) {
        return CpuEngine.load(model, null, EngineOptions.defaults(threads).withContextLimit(2048)
                .withHostStore(HostStoreOptions.at(host, 256L << 20)).withRemote(tier));
    }

    static void warmUp(CpuEngine e, SplittableRandom rnd) throws Exception {
        int vocab = e.model().vocabSize(), bos = e.tokenizer().bos();
        for (int i = 0; i < 4; i++) {
            Bench.run(e, Bench.randomPrompt(rnd, bos, vocab, 16), 2);
            Bench.run(e, Bench.randomPrompt(rnd, bos, vocab, 64), 2);
        }
    }

    static int[] withSuffix(int[] prefix, SplittableRandom rnd, int vocab) {
        int[] p = Arrays.copyOf(prefix, prefix.length + 16);
        for (int i = prefix.length; i < p.length; i++) p[i] = 3 + rnd.nextInt(vocab - 3);
        return p;
    }

    /**
     * Restores in a warm engine (JIT compiled, workers idle between requests as in service): a pool of 70
     * blocks holds one 1008-token prefix, so requests alternating between {@code prefix} (already in the host
     * store) and a second prefix computed here each restore most of their chain from the host store.
     * Returns the per-request host restore rates in GB/s, sorted.
     */
    static double[] steadyRestoreGBs(Path model, int threads, Path host, int[] prefix, SplittableRandom rnd, int vocab, int bos)
            throws Exception {
        var options = EngineOptions.defaults(threads).withContextLimit(2048).withPoolBytes(70L * 512 * 1024)
                .withHostStore(HostStoreOptions.at(host, 256L << 20));
        try (CpuEngine e = CpuEngine.load(model, null, options)) {
            warmUp(e, rnd);
            int[] other = Bench.randomPrompt(rnd, bos, vocab, prefix.length);
            Bench.run(e, withSuffix(other, rnd, vocab), 1);
            e.persist(java.time.Duration.ofSeconds(60));
            int rounds = Integer.getInteger("kvfn.bench.restores", 24);
            double[] rates = new double[rounds];
            for (int i = 0; i < rounds + 4; i++) {
                TierStats before = e.stats().tier("host");
                GenerationResult r = Bench.run(e, withSuffix(i % 2 == 0 ? prefix : other, rnd, vocab), 1);
                TierStats after = e.stats().tier("host");
                long bytes = after.restores().bytes() - before.restores().bytes(), nanos = after.restores().nanos() - before.restores().nanos();
                if (r.cachedTokens() != prefix.length || bytes < 47L * 512 * 1024) {
                    throw new IllegalStateException("expected a host restore, got " + r.cachedTokens() + " cached, " + bytes + " bytes");
                }
                if (i >= 4) rates[i - 4] = bytes / (double) nanos; // the first rounds compile the path
                Thread.sleep(100); // idle between requests: workers park, as between requests in service
            }
            Arrays.sort(rates);
            return rates;
        }
    }

    /** Copies of {@code bytes} native -> native on one thread: the best of 20 (cache-hot sizes) and the median. */
    static double[] memcpyGBs(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(bytes, 64), b = arena.allocate(bytes, 64);
            a.fill((byte) 1);
            b.fill((byte) 2);
            double[] rates = new double[20];
            for (int i = 0; i < rates.length; i++) {
                long t0 = System.nanoTime();
                MemorySegment.copy(a, 0, b, 0, bytes);
                rates[i] = bytes / (double) (System.nanoTime() - t0);
            }
            Arrays.sort(rates);
            return new double[]{rates[rates.length - 1], rates[rates.length / 2]};
        }
    }

    /** Median of 10 copies of {@code bytes}, split in two halves copied on two threads at once. */
    static double memcpy2GBs(long bytes) throws Exception {
        try (Arena arena = Arena.ofShared(); var pool = new dev.kvfn.engine.cpu.kernel.WorkerPool(2)) {
            MemorySegment a = arena.allocate(bytes, 64), b = arena.allocate(bytes, 64);
            a.fill((byte) 1);
            b.fill((byte) 2);
            long half = bytes / 2;
            double[] rates = new double[10];
            for (int i = 0; i < rates.length; i++) {
                long t0 = System.nanoTime();
                pool.forRange(2, (from, to) -> {
                    for (int h = from; h < to; h++) MemorySegment.copy(a, h * half, b, h * half, half);
                });
                rates[i] = bytes / (double) (System.nanoTime() - t0);
            }
            Arrays.sort(rates);
            return rates[rates.length / 2];
        }
    }

    /**
     * {@code HostStore.restore} alone: 63 blocks of the llama-1b f16 layout stored, the store reopened, then
     * 40 rounds restoring all 63 into native memory on one thread. Returns {best, median} GB/s.
     */
    static double[] hostRestoreGBs(Path shm) throws Exception {
        var layout = new dev.kvfn.kv.KvLayout(16, 8, 64, 16, dev.kvfn.kv.KvElementType.F16);
        long bb = layout.blockBytes();
        Path dir = Files.createTempDirectory(shm, "kvfn-bench-restore");
        byte[] fp = new byte[32];
        dev.kvfn.kv.BlockKey[] keys = new dev.kvfn.kv.BlockKey[63];
        try (Arena arena = Arena.ofShared()) { // the worker threads write into dst
            MemorySegment src = arena.allocate(bb), dst = arena.allocate(bb * 63, 64);
            dst.fill((byte) 0);
            try (var store = dev.kvfn.kv.tier.HostStore.open(dir, fp, layout.format(), 70 * (bb + 128))) {
                for (int i = 0; i < 63; i++) {
                    src.fill((byte) i);
                    byte[] k = new byte[32];
                    k[0] = (byte) i;
                    keys[i] = dev.kvfn.kv.BlockKey.of(k);
                    store.put(keys[i], null, src, 0);
                }
            }
            double[] rates = new double[40], parallel = new double[40];
            int[] slots = new int[63], crcs = new int[63];
            long[] gens = new long[63];
            boolean[] ok = new boolean[63];
            try (var store = dev.kvfn.kv.tier.HostStore.open(dir, fp, layout.format(), 70 * (bb + 128));
                 var workers = new dev.kvfn.engine.cpu.kernel.WorkerPool(2)) {
                for (int rep = 0; rep < rates.length; rep++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < 63; i++) {
                        if (!dev.kvfn.kv.tier.HostStoreRestore.restore(store, keys[i], dst, i * bb)) throw new IllegalStateException("restore failed");
                    }
                    rates[rep] = 63 * bb / (double) (System.nanoTime() - t0);
                }
                // the engine's path: plan under the lock, copy + verify on the worker threads, commit
                for (int rep = 0; rep < parallel.length; rep++) {
                    long t0 = System.nanoTime();
                    int n = store.plan(keys, 63, slots, gens, crcs);
                    var cursor = new java.util.concurrent.atomic.AtomicInteger();
                    workers.forRange(n, (from, to) -> {
                        for (int i; (i = cursor.getAndIncrement()) < n; ) ok[i] = store.copyVerified(keys[i], slots[i], crcs[i], dst, i * bb);
                    });
                    if (store.commit(keys, n, slots, gens, ok) != 63) throw new IllegalStateException("restore failed");
                    parallel[rep] = 63 * bb / (double) (System.nanoTime() - t0);
                }
            }
            Arrays.sort(rates);
            Arrays.sort(parallel);
            return new double[]{rates[rates.length - 1], rates[rates.length / 2], parallel[parallel.length - 1],
                    parallel[parallel.length / 2]};
        } finally {
            deleteTree(dir);
        }
    }

    /** Best of 20 copies of {@code bytes} from a mapped, pre-faulted file in {@code dir} to native memory. */
    static double mappedMemcpyGBs(Path dir, long bytes) throws java.io.IOException {
        Path f = Files.createTempFile(dir, "kvfn-memcpy", ".bin");
        try (Arena arena = Arena.ofConfined();
             var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
            MemorySegment map = ch.map(java.nio.channels.FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            map.fill((byte) 1);
            MemorySegment dst = arena.allocate(bytes, 64);
            dst.fill((byte) 2);
            double best = 0;
            for (int i = 0; i < 20; i++) {
                long t0 = System.nanoTime();
                MemorySegment.copy(map, 0, dst, 0, bytes);
                best = Math.max(best, bytes / (double) (System.nanoTime() - t0));
            }
            return best;
        } finally {
            Files.deleteIfExists(f);
        }
    }

    static void deleteTree(Path p) {
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
        } catch (Exception ignored) {
            // best effort
        }
    }
}
