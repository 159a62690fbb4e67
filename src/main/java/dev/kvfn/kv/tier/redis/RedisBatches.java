package dev.kvfn.kv.tier.redis;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Sends the tier's batches: whole, as one pipeline, to a single Redis (standalone, sentinel, replication); to a
 * Redis Cluster ({@code quarkus.redis.client-type=cluster}), split by hash slot. The Vert.x client (4.5) sends a
 * batch to one node and refuses one whose keys live on several (CROSSSLOT), so each slot's commands go as their
 * own batch, all at once over one cluster connection (one pooled connection per node, pipelined). Replies come
 * back in the batch's order.
 *
 * <p>At most {@code connections} batches are with the client at once, the rest wait here, reads before writes.
 * Each batch holds a pooled connection (on a cluster: one to every master) until it is answered; past the pool,
 * batches wait in the client's queue and past that queue they fail ("Failed to connect to all nodes of the
 * cluster": 40 of 64 concurrent batches, pool 6 and queue 24, Quarkus's defaults; a warm of 14 blocks lost 9
 * publications to timeouts in a loaded build). Waiting here, a publication is late, never lost to the pool. A batch
 * unanswered after {@code slotTimeout} (the tier's own deadline) gives its place back all the same: a Redis that takes
 * requests and never answers would otherwise hold every place for good and the batches behind it (a publication
 * carries its block's bytes) would pile up here; so they go on to the client, whose bounded queue refuses them.
 */
final class RedisBatches {
    private final Redis redis;
    private final boolean cluster;
    private final int connections;
    private final AtomicInteger sending = new AtomicInteger();
    private final Duration slotTimeout;
    private final Queue<Runnable> reads = new ConcurrentLinkedQueue<>(), writes = new ConcurrentLinkedQueue<>();

    /**
     * @param connections batches with the client at once: its pool size ({@code quarkus.redis.max-pool-size})
     * @param slotTimeout after this long an unanswered batch no longer counts against {@code connections}
     */
    RedisBatches(Redis redis, boolean cluster, int connections, Duration slotTimeout) {
        if (connections < 1) throw new IllegalArgumentException("connections must be >= 1, got " + connections);
        this.redis = redis;
        this.cluster = cluster;
        this.connections = connections;
        this.slotTimeout = slotTimeout;
    }

    boolean cluster() { return cluster; }

    /** A read (lookup, fetch): sent before any waiting write. Replies as {@link #sendNow}. */
    Future<List<Response>> send(Batch batch, Consumer<Throwable> slotFailed) {
        return limited(reads, () -> sendNow(batch, slotFailed));
    }

    /** A write (publication, hit count, delete): sent when no read waits. Replies as {@link #sendNow}. */
    Future<List<Response>> sendWrite(Batch batch, Consumer<Throwable> slotFailed) {
        return limited(writes, () -> sendNow(batch, slotFailed));
    }

    private Future<List<Response>> limited(Queue<Runnable> queue, Supplier<Future<List<Response>>> op) {
        Promise<List<Response>> answer = Promise.promise();
        queue.add(() -> {
            AtomicBoolean out = new AtomicBoolean(true);
            Runnable giveBack = () -> {
                if (out.compareAndSet(true, false)) {
                    sending.decrementAndGet();
                    startWaiting();
                }
            };
            Future<List<Response>> f;
            try {
                f = op.get();
            } catch (RuntimeException e) {
                f = Future.failedFuture(e);
            }
            if (!f.isComplete()) CompletableFuture.delayedExecutor(slotTimeout.toNanos(), TimeUnit.NANOSECONDS).execute(giveBack);
            f.onComplete(r -> {
                giveBack.run();
                answer.handle(r);
            });
        });
        startWaiting();
        return answer.future();
    }

    /** Starts waiting batches, reads first, while fewer than {@code connections} are out. */
    private void startWaiting() {
        while (!reads.isEmpty() || !writes.isEmpty()) {
            int n = sending.get();
            if (n >= connections) return; // the batch that brings it down starts the next
            if (!sending.compareAndSet(n, n + 1)) continue;
            Runnable next = reads.poll();
            if (next == null) next = writes.poll();
            if (next == null) { // another thread took it: give the slot back and look again
                sending.decrementAndGet();
                continue;
            }
            next.run();
        }
    }

    /**
     * The batch's replies. On a cluster, a slot whose batch fails (its node down or failing over) answers null for
     * each of its commands, as a missing key would, and its failure goes to {@code slotFailed}; the future fails
     * only when no slot answered (or no connection could be had).
     */
    private Future<List<Response>> sendNow(Batch batch, Consumer<Throwable> slotFailed) {
        if (!cluster || batch.size() <= 1) return redis.batch(batch.requests);
        Map<Integer, List<Integer>> bySlot = new LinkedHashMap<>();
        for (int i = 0; i < batch.size(); i++) bySlot.computeIfAbsent(HashSlot.of(batch.key(i)), s -> new ArrayList<>()).add(i);
        if (bySlot.size() == 1) return redis.batch(batch.requests); // one node takes it whole
        return redis.connect().compose(conn -> sendBySlot(conn, batch, bySlot, slotFailed).eventually(() -> conn.close()));
    }

    private static Future<List<Response>> sendBySlot(RedisConnection conn, Batch batch, Map<Integer, List<Integer>> bySlot,
                                                     Consumer<Throwable> slotFailed) {
        List<List<Integer>> groups = new ArrayList<>(bySlot.values());
        List<Future<List<Response>>> sent = new ArrayList<>(groups.size());
        for (List<Integer> group : groups) {
            List<Request> requests = new ArrayList<>(group.size());
            for (int i : group) requests.add(batch.requests.get(i));
            Future<List<Response>> f;
            try {
                f = conn.batch(requests);
            } catch (RuntimeException e) {
                f = Future.failedFuture(e);
            }
            sent.add(f);
        }
        return Future.join(sent).transform(ignored -> {
            Response[] replies = new Response[batch.size()];
            Throwable failure = null;
            int answered = 0;
            for (int g = 0; g < groups.size(); g++) {
                Future<List<Response>> f = sent.get(g);
                if (f.succeeded()) {
                    List<Integer> group = groups.get(g);
                    for (int j = 0; j < group.size(); j++) replies[group.get(j)] = f.result().get(j);
                    answered++;
                } else {
                    failure = f.cause();
                }
            }
            if (answered == 0) return Future.failedFuture(failure);
            if (failure != null) slotFailed.accept(failure);
            return Future.succeededFuture(Arrays.asList(replies));
        });
    }
}
