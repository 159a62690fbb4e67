package dev.kvfn.kv.tier.redis;

import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;

import java.util.ArrayList;
import java.util.List;

/**
 * The commands of one round trip, each on one key (or on keys sharing a hash tag), with that key, so that
 * {@link RedisBatches} can split it by hash slot for a Redis Cluster.
 */
final class Batch {
    final List<Request> requests;
    private final List<String> keys;

    Batch(int expected) {
        requests = new ArrayList<>(expected);
        keys = new ArrayList<>(expected);
    }

    /** Adds {@code command key}; the caller appends the other arguments to the returned request. */
    Request add(Command command, String key) {
        Request r = Request.cmd(command).arg(key);
        requests.add(r);
        keys.add(key);
        return r;
    }

    int size() { return requests.size(); }

    /** The key of command {@code i}: its hash slot is where a cluster runs it. */
    String key(int i) { return keys.get(i); }
}
