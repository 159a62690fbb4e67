package dev.kvfn.kv.tier.redis;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.seal.BlockSeal;
import dev.kvfn.kv.seal.KvSecret;
import dev.kvfn.kv.tier.RemoteKvTier;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The shared KV tier in Redis, through the Vert.x Redis client that Quarkus configures
 * ({@code quarkus.redis.*}: hosts, password or ACL user, TLS). Per model fingerprint {@code fp}, under
 * the deployment's key prefix ({@code kvfn.kv.redis.key-prefix}, default {@code kvfn}), KEY being the block key in hex:
 *
 * <pre>
 *   PREFIX:FP:m:{KEY}   hash     size, tokens, parent, replica, where (redis|host|engine), last (ms), hits,
 *                                  ids (the block's token ids, 4-byte big-endian, when the engine reported them), salted
 *   PREFIX:FP:d:{KEY}   string the sealed block (with kvfn.kv.redis.store-bytes): version 1 (1 byte), nonce (12),
 *                                  AES-256-GCM ciphertext of the block's bytes, tag (16); see {@link BlockSeal}
 *   PREFIX:FP:hot       zset     last key of each chain that served a hit, scored by hits
 * </pre>
 *
 * The block key in braces is a Redis Cluster hash tag: a block's two keys share a slot (its publication is one
 * batch, its deletion one {@code DEL}) while different blocks spread over all slots. On a cluster
 * ({@code quarkus.redis.client-type=cluster}) every batch that spans slots is split by slot ({@link RedisBatches});
 * a node that is down costs the blocks in its slots, counted as errors, until the cluster fails over.
 *
 * <p>Block bytes derive from users' prompts and anyone who can write Redis could plant them, so they are
 * never stored in clear nor trusted: each value is sealed under a key derived from
 * {@code kvfn.kv.secret}, with the block key, fingerprint and layout as associated data, and a value
 * that does not open (forged, damaged, cut, copied from another key, sealed with another secret) is
 * counted as a fault, deleted and recomputed. Without a secret the tier refuses to store bytes.
 *
 * <p>A chain is looked up in ONE pipelined round trip (an HGET per key) under the lookup deadline,
 * then its bytes fetched in up to 4 pipelined batches at once under the fetch deadline, each value
 * read with {@code GETRANGE} at most one byte past its known sealed size, so a planted huge value
 * never leaves Redis (it is skipped and counted); each block is opened before it enters the host
 * store, and a bad one is deleted from Redis. The hot
 * set keeps the {@value #HOT_CHAINS} hottest chain ends; prewarm walks their parents (one round trip per
 * level for all of them). Publications and
 * hit counts are fire-and-forget with a bound on what is in flight. Every key gets the TTL, and
 * Redis's own {@code maxmemory} policy bounds the total. Errors and timeouts are counted, never thrown.
 */
public final class RedisKvTier implements RemoteKvTier {
    private final RedisBatches batches;
    private final boolean storeBytes;
    private final Duration lookupTimeout, fetchTimeout, ttl;
    private final String replica;
    private final String keyPrefix;
    private final KvSecret secret; // null: index only (refused with store-bytes)
    private volatile BlockSeal seal;
    private final Semaphore inFlight;
    private final int maxInFlight;
    private volatile String prefix;
    private volatile BlockFormat format;
    private final AtomicLong lookups = new AtomicLong(), hitBlocks = new AtomicLong(), missBlocks = new AtomicLong(),
            published = new AtomicLong(), publishDropped = new AtomicLong(), errors = new AtomicLong(),
            timeouts = new AtomicLong(), faults = new AtomicLong(), restoredBytes = new AtomicLong(),
            restoreNanos = new AtomicLong(), publishedBytes = new AtomicLong();

    /** Sealed values: version, nonce, ciphertext, tag. */
    static final int VALUE_VERSION = 1, VALUE_HEADER = 1 + BlockSeal.NONCE_BYTES;

    /**
     * @param keyPrefix the first part of every key ({@code kvfn.kv.redis.key-prefix})
     * @param secret    the deployment's KV secret; required when {@code storeBytes}
     * @param cluster   {@code redis} is a Redis Cluster client: batches are split by hash slot
     * @throws IllegalArgumentException when bytes would be shared without a secret, or the prefix is empty or has a brace
     */
    public RedisKvTier(Redis redis, boolean storeBytes, Duration lookupTimeout, Duration fetchTimeout, Duration ttl,
                       String replica, int maxInFlight, String keyPrefix, KvSecret secret, boolean cluster) {
        this(redis, storeBytes, lookupTimeout, fetchTimeout, ttl, replica, maxInFlight, keyPrefix, secret, cluster, DEFAULT_CONNECTIONS);
    }

    /** Quarkus's default {@code quarkus.redis.max-pool-size}. */
    public static final int DEFAULT_CONNECTIONS = 6;

    /**
     * @param connections batches sent to the client at once, at most its connection pool's size
     *                    ({@code quarkus.redis.max-pool-size}); the rest wait in the tier, reads first ({@link RedisBatches})
     */
    public RedisKvTier(Redis redis, boolean storeBytes, Duration lookupTimeout, Duration fetchTimeout, Duration ttl,
                       String replica, int maxInFlight, String keyPrefix, KvSecret secret, boolean cluster, int connections) {
        if (storeBytes && secret == null) {
            throw new IllegalArgumentException("kvfn.kv.redis.store-bytes=true shares KV bytes (derived from users' prompts) through Redis:"
                    + " set kvfn.kv.secret (at least 16 bytes, the same on every replica) or kvfn.kv.redis.store-bytes=false");
        }
        if (keyPrefix == null || keyPrefix.isBlank() || keyPrefix.contains(" ") || keyPrefix.contains("{") || keyPrefix.contains("}")) {
            // a brace would make the prefix a cluster hash tag: every key in one slot
            throw new IllegalArgumentException("kvfn.kv.redis.key-prefix must be a non-empty word without spaces or braces, got '" + keyPrefix + "'");
        }
        this.keyPrefix = keyPrefix;
        this.secret = secret;
        this.batches = new RedisBatches(redis, cluster, connections, lookupTimeout.plus(fetchTimeout));
        this.storeBytes = storeBytes;
        this.lookupTimeout = lookupTimeout;
        this.fetchTimeout = fetchTimeout;
        this.ttl = ttl;
        this.replica = replica;
        this.maxInFlight = Math.max(1, maxInFlight);
        this.inFlight = new Semaphore(this.maxInFlight);
    }

    @Override
    public void attach(String namespace, byte[] fingerprint, BlockFormat format) {
        this.format = format;
        if (storeBytes && format.hasBytes()) this.seal = new BlockSeal(secret, "redis", fingerprint, format);
        this.prefix = keyPrefix + ":" + namespace + ":";
    }

    /** A fetch ahead of admission takes at most the lookup and the fetch deadline. */
    @Override
    public Duration deadline() {
        return lookupTimeout.plus(fetchTimeout);
    }

    /** Bytes of a sealed value. */
    private long valueBytes() {
        return VALUE_HEADER + format.blockBytes() + BlockSeal.TAG_BYTES;
    }

    // the block key is the hash tag: a block's keys share a cluster slot, blocks spread over all of them
    private String meta(BlockKey k) { return prefix + "m:{" + k.hex() + "}"; }
    private String data(BlockKey k) { return prefix + "d:{" + k.hex() + "}"; }

    private static final int FETCH_PARTS = 4, FETCH_PART_MIN = 8;
    static final int HOT_CHAINS = 1024;

    private List<Response> send(Batch batch, Duration timeout) throws Exception {
        return await(batches.send(batch, this::error), timeout);
    }

    /** A batch's replies within {@code timeout}; a timeout is counted here and rethrown. */
    private List<Response> await(Future<List<Response>> f, Duration timeout) throws Exception {
        try {
            List<Response> replies = f.toCompletionStage().toCompletableFuture().get(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
            ok();
            return replies;
        } catch (TimeoutException e) {
            timedOut(timeout);
            throw e;
        }
    }

    private void timedOut(Duration timeout) {
        timeouts.incrementAndGet();
        used = true;
        lastProblem = "no answer within " + timeout.toMillis() + " ms";
        lastOutcomeOk = false;
    }

    /**
     * The end of a fire-and-forget batch (a publication, a hit count): its in-flight permit comes back exactly once,
     * when the batch is answered or after the fetch timeout. A node that takes a request and never answers (seen
     * once on a Redis Cluster: 12 publications pending for good, no error) would otherwise hold the permit for
     * good, and with every permit held every later publication is dropped.
     */
    private void settle(Future<List<Response>> sent, Runnable onAnswer) {
        sent.toCompletionStage().toCompletableFuture()
                .orTimeout(Math.max(1, fetchTimeout.toNanos()), TimeUnit.NANOSECONDS)
                .whenComplete((replies, failure) -> {
                    inFlight.release();
                    Throwable cause = failure instanceof java.util.concurrent.CompletionException c && c.getCause() != null ? c.getCause() : failure;
                    if (cause == null) {
                        onAnswer.run();
                        ok();
                    } else if (cause instanceof TimeoutException) {
                        timedOut(fetchTimeout);
                    } else {
                        error(cause);
                    }
                });
    }

    // The tier's state for health reporting, from its own calls (a probe does no I/O of its own)
    private volatile boolean lastOutcomeOk = true, used;
    private volatile String lastProblem;

    private void ok() {
        used = true;
        lastOutcomeOk = true;
    }

    private void error(Throwable e) {
        errors.incrementAndGet();
        used = true;
        lastOutcomeOk = false;
        lastProblem = String.valueOf(e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e);
    }

    /** {@code ok}, {@code not used yet}, or {@code failing: <the last error>} when the last call failed; never does I/O. */
    String state() {
        if (!used && lastProblem == null) return "not used yet";
        return lastOutcomeOk ? "ok" : "failing: " + lastProblem;
    }

    @Override
    public int fetch(BlockKey[] keys, int from, int to, Landing landing) {
        if (!storeBytes || from >= to || !format.hasBytes()) return 0;
        lookups.incrementAndGet();
        long t0 = System.nanoTime();
        try {
            Batch lookup = new Batch(to - from);
            for (int i = from; i < to; i++) lookup.add(Command.HGET, meta(keys[i])).arg("size");
            List<Response> found = send(lookup, lookupTimeout);
            long blockBytes = format.blockBytes();
            int n = 0;
            while (n < to - from) {
                Response size = found.get(n);
                if (size == null || size.toLong() != blockBytes) break;
                n++;
            }
            missBlocks.addAndGet(to - from - n);
            if (n == 0) return 0;
            // The values in up to FETCH_PARTS batches at once: each takes its own pooled connection, so the client
            // parses them on several event loops (one connection moved ~0.7 GB/s here, four ~0.9-1.0).
            int parts = Math.min(FETCH_PARTS, (n + FETCH_PART_MIN - 1) / FETCH_PART_MIN), per = (n + parts - 1) / parts;
            List<Future<List<Response>>> pending = new ArrayList<>(parts);
            for (int at = 0; at < n; at += per) {
                Batch fetch = new Batch(per);
                // at most one byte past the sealed size: a longer value is seen as too long without being transferred
                for (int i = at; i < Math.min(n, at + per); i++) {
                    fetch.add(Command.GETRANGE, data(keys[from + i])).arg(0).arg(valueBytes());
                }
                pending.add(batches.send(fetch, this::error));
            }
            long deadline = System.nanoTime() + fetchTimeout.toNanos();
            int stored = 0;
            Arena arena = Arena.ofConfined();
            ByteBuffer plain = arena.allocate(blockBytes, 64).asByteBuffer();
            byte[] nonce = new byte[BlockSeal.NONCE_BYTES];
            try {
                fetched:
                for (Future<List<Response>> part : pending) {
                    List<Response> values;
                    try {
                        values = await(part, Duration.ofNanos(deadline - System.nanoTime()));
                    } catch (TimeoutException e) {
                        break; // keep the blocks already stored
                    } catch (ExecutionException e) {
                        error(e.getCause());
                        break;
                    }
                    for (Response r : values) {
                        // GETRANGE answers "" for a missing key: expired or evicted between the two round trips
                        if (r == null || r.toBuffer().length() == 0) break fetched;
                        BlockKey key = keys[from + stored];
                        // a view of the client's buffer, no copy (a 512 KiB byte[] per block is a humongous allocation)
                        ByteBuffer value = r.toBuffer().getByteBuf().nioBuffer();
                        if (!open(key, value, nonce, plain.clear())) {
                            faults.incrementAndGet(); // present but wrong: never serve it again, to anyone
                            forget(key);
                            break fetched;
                        }
                        if (!landing.put(key, from + stored == 0 ? null : keys[from + stored - 1], MemorySegment.ofBuffer(plain.flip()))) {
                            break fetched;
                        }
                        restoredBytes.addAndGet(blockBytes);
                        stored++;
                    }
                }
            } finally {
                arena.close();
            }
            hitBlocks.addAndGet(stored);
            return stored;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        } catch (TimeoutException e) {
            return 0;
        } catch (Exception e) {
            error(e);
            return 0;
        } finally {
            restoreNanos.addAndGet(System.nanoTime() - t0);
        }
    }

    /** Opens a sealed value into {@code plain}: false when it has the wrong size or version, or fails its tag. */
    private boolean open(BlockKey key, ByteBuffer value, byte[] nonce, ByteBuffer plain) {
        if (value.remaining() != valueBytes() || value.get(value.position()) != VALUE_VERSION) return false;
        value.get(value.position() + 1, nonce);
        return seal.open(key, nonce, value.slice(value.position() + VALUE_HEADER, value.remaining() - VALUE_HEADER), plain);
    }

    /** The sealed value of a block: version, a fresh nonce, ciphertext and tag. */
    private byte[] sealed(BlockKey key, MemorySegment bytes) {
        byte[] value = new byte[(int) valueBytes()];
        byte[] nonce = new byte[BlockSeal.NONCE_BYTES];
        seal.newNonce(nonce);
        value[0] = VALUE_VERSION;
        System.arraycopy(nonce, 0, value, 1, nonce.length);
        seal.seal(key, nonce, bytes.asByteBuffer(), ByteBuffer.wrap(value, VALUE_HEADER, value.length - VALUE_HEADER));
        return value;
    }

    @Override
    public void publish(BlockKey key, BlockKey parent, int[] tokens, boolean salted, MemorySegment bytes) {
        if (prefix == null) return;
        if (!inFlight.tryAcquire()) {
            publishDropped.incrementAndGet();
            return;
        }
        byte[] copy;
        try {
            copy = bytes == null || seal == null ? null : sealed(key, bytes);
        } catch (RuntimeException e) {
            inFlight.release();
            error(e);
            return;
        }
        long seconds = Math.max(1, ttl.toSeconds());
        Batch batch = new Batch(4); // one slot: the block's keys share its hash tag
        if (copy != null) {
            // NX: two replicas storing the same key write it once (their bytes can differ in the last bits of rounding;
            // the first writer's sealed value wins whole). The EXPIRE after it is unconditional: a value that won
            // without a TTL (planted, or written by a client that forgot it) gets one anyway.
            batch.add(Command.SET, data(key)).arg(Buffer.buffer(copy)).arg("EX").arg(seconds).arg("NX");
            batch.add(Command.EXPIRE, data(key)).arg(seconds);
        }
        Request entry = batch.add(Command.HSET, meta(key)).arg("size").arg(bytes == null ? 0 : bytes.byteSize())
                .arg("tokens").arg(format.blockTokens()).arg("parent").arg(parent == null ? "" : parent.hex())
                .arg("replica").arg(replica).arg("where").arg(copy != null ? "redis" : bytes != null ? "host" : "engine")
                .arg("salted").arg(salted ? 1 : 0).arg("last").arg(System.currentTimeMillis());
        if (tokens != null) entry.arg("ids").arg(Buffer.buffer(ids(tokens)));
        batch.add(Command.EXPIRE, meta(key)).arg(seconds);
        long size = copy == null ? 0 : bytes.byteSize();
        try {
            settle(batches.sendWrite(batch, this::error), () -> {
                published.incrementAndGet();
                publishedBytes.addAndGet(size);
            });
        } catch (RuntimeException e) {
            inFlight.release();
            error(e);
        }
    }

    private static byte[] ids(int[] tokens) {
        ByteBuffer b = ByteBuffer.allocate(tokens.length * 4); // big-endian, as in block keys
        for (int t : tokens) b.putInt(t);
        return b.array();
    }

    @Override
    public int[] chainTokens(BlockKey[] chain) {
        if (prefix == null || chain.length == 0) return null;
        try {
            Batch get = new Batch(chain.length + 1);
            get.add(Command.HGET, meta(chain[0])).arg("salted");
            for (BlockKey k : chain) get.add(Command.HGET, meta(k)).arg("ids");
            List<Response> found = send(get, lookupTimeout);
            Response salted = found.get(0);
            if (salted == null || !"0".equals(salted.toString())) return null; // a tenant's prompt is never re-prefilled
            int bt = format.blockTokens();
            int[] tokens = new int[chain.length * bt];
            for (int i = 0; i < chain.length; i++) {
                Response r = found.get(i + 1);
                if (r == null) return null;
                ByteBuffer b = ByteBuffer.wrap(r.toBytes());
                if (b.remaining() != bt * 4) return null;
                for (int t = 0; t < bt; t++) tokens[i * bt + t] = b.getInt();
            }
            return tokens;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (TimeoutException e) {
            return null;
        } catch (Exception e) {
            error(e);
            return null;
        }
    }

    @Override
    public void hit(BlockKey last) {
        if (prefix == null || !inFlight.tryAcquire()) return;
        try {
            Batch batch = new Batch(5);
            batch.add(Command.ZINCRBY, prefix + "hot").arg(1).arg(last.hex());
            batch.add(Command.ZREMRANGEBYRANK, prefix + "hot").arg(0).arg(-HOT_CHAINS - 1); // keep the hottest
            batch.add(Command.EXPIRE, prefix + "hot").arg(Math.max(1, ttl.toSeconds()));
            batch.add(Command.HINCRBY, meta(last)).arg("hits").arg(1);
            batch.add(Command.HSET, meta(last)).arg("last").arg(System.currentTimeMillis());
            settle(batches.sendWrite(batch, this::error), () -> {});
        } catch (RuntimeException e) {
            inFlight.release();
            error(e);
        }
    }

    @Override
    public List<BlockKey[]> hotChains(int maxBlocks) {
        if (prefix == null || maxBlocks <= 0) return List.of();
        long deadline = System.nanoTime() + fetchTimeout.toNanos();
        List<List<BlockKey>> chains = new ArrayList<>(); // each end first while walking, hottest first
        BlockKey[][] complete = new BlockKey[0][];
        try {
            Batch hot = new Batch(1);
            hot.add(Command.ZREVRANGE, prefix + "hot").arg(0).arg(Math.min(HOT_CHAINS, maxBlocks) - 1);
            Response top = send(hot, lookupTimeout).get(0);
            if (top == null) return List.of();
            for (Response member : top) chains.add(new ArrayList<>(List.of(BlockKey.parse(member.toString()))));
            boolean[] done = new boolean[chains.size()];
            complete = new BlockKey[chains.size()][];
            // one round trip per chain level, for every chain still being walked; a chain longer than the budget is dropped
            for (int depth = 1; depth <= maxBlocks; depth++) {
                List<Integer> open = new ArrayList<>();
                Batch parents = new Batch(chains.size());
                for (int c = 0; c < chains.size(); c++) {
                    if (done[c]) continue;
                    List<BlockKey> chain = chains.get(c);
                    open.add(c);
                    parents.add(Command.HGET, meta(chain.get(chain.size() - 1))).arg("parent");
                }
                if (open.isEmpty()) break;
                long left = deadline - System.nanoTime();
                if (left <= 0) break;
                List<Response> found = send(parents, Duration.ofNanos(left));
                for (int i = 0; i < open.size(); i++) {
                    int c = open.get(i);
                    Response parent = found.get(i);
                    done[c] = true;
                    if (parent == null) {
                        chains.set(c, null); // a block's index entry expired: the chain cannot be rebuilt
                    } else if (parent.toString().isEmpty()) {
                        List<BlockKey> chain = chains.get(c);
                        java.util.Collections.reverse(chain); // root first
                        complete[c] = chain.toArray(BlockKey[]::new);
                    } else if (depth < maxBlocks) {
                        chains.get(c).add(BlockKey.parse(parent.toString()));
                        done[c] = false;
                    }
                }
            }
        } catch (TimeoutException e) {
            // counted by send; use what was complete
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            error(e);
        }
        List<BlockKey[]> chosen = new ArrayList<>(); // hottest first, within the budget
        int budget = maxBlocks;
        for (BlockKey[] chain : complete) {
            if (chain == null || chain.length > budget) continue;
            chosen.add(chain);
            budget -= chain.length;
        }
        return chosen;
    }

    private void forget(BlockKey key) {
        try {
            Batch del = new Batch(1);
            del.add(Command.DEL, data(key)).arg(meta(key)); // one slot: both keys carry the block's hash tag
            batches.sendWrite(del, this::error);
        } catch (RuntimeException e) {
            error(e);
        }
    }

    @Override
    public RemoteStats stats() {
        return new RemoteStats("redis", state(), lookups.get(), hitBlocks.get(), missBlocks.get(), published.get(), publishDropped.get(),
                errors.get(), timeouts.get(), faults.get(), restoredBytes.get(), restoreNanos.get(), publishedBytes.get());
    }

    /** Waits (bounded) until no publication or hit count is in flight, e.g. before a test or shutdown reads Redis. */
    public boolean drain(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (inFlight.availablePermits() < maxInFlight) {
            if (System.nanoTime() > deadline) return false;
            Thread.sleep(1);
        }
        return true;
    }

    /** Lets publications in flight land (shutdown flushes the index too), for at most 5 s; the client itself belongs to its maker. */
    @Override
    public void close() {
        try {
            drain(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
