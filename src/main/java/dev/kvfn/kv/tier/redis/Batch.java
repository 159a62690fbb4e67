package dev.kvfn.kv.tier.redis;

import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The commands of one round trip, each on one key (or on keys sharing a hash tag), with each command's hash slot,
 * so that {@link RedisBatches} can split it for a Redis Cluster.
 */
final class Batch {
    final List<Request> requests;
    private int[] slots;

    Batch(int expected) {
        requests = new ArrayList<>(expected);
        slots = new int[Math.max(1, expected)];
    }

    /** Adds {@code command key}; the caller appends the other arguments to the returned request. */
    Request add(Command command, String key) {
        Request r = Request.cmd(command).arg(key);
        if (requests.size() == slots.length) slots = Arrays.copyOf(slots, slots.length * 2);
        slots[requests.size()] = HashSlot.of(key);
        requests.add(r);
        return r;
    }

    int size() { return requests.size(); }

    int slot(int i) { return slots[i]; }

    /** True when every command is on the same slot (one cluster node takes it whole). */
    boolean oneSlot() {
        for (int i = 1; i < requests.size(); i++) if (slots[i] != slots[0]) return false;
        return true;
    }
}
