package dev.kvfn.kv.tier.redis;

import io.vertx.core.Future;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Sends the tier's batches: whole, as one pipeline, to a single Redis (standalone, sentinel, replication); to a
 * Redis Cluster ({@code quarkus.redis.client-type=cluster}), split by hash slot. The Vert.x client (4.5) sends a
 * batch to one node and refuses one whose keys live on several (CROSSSLOT), so each slot's commands go as their
 * own batch, all at once over one cluster connection (one pooled connection per node, pipelined). Replies come
 * back in the batch's order.
 */
final class RedisBatches {
    private final Redis redis;
    private final boolean cluster;

    RedisBatches(Redis redis, boolean cluster) {
        this.redis = redis;
        this.cluster = cluster;
    }

    boolean cluster() { return cluster; }

    /**
     * The batch's replies. On a cluster, a slot whose batch fails (its node down or failing over) answers null for
     * each of its commands, as a missing key would, and its failure goes to {@code slotFailed}; the future fails
     * only when no slot answered (or no connection could be had).
     */
    Future<List<Response>> send(Batch batch, Consumer<Throwable> slotFailed) {
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
