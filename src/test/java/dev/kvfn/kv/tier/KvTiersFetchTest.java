package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockKey;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A slow or hostile remote fetch for one request (a value that takes forever to arrive) must not hold
 * another request's admission: fetches run on a small pool, and each request goes on at its own
 * deadline. Driven by a fake remote tier whose fetch for one chain blocks until the test releases it.
 */
class KvTiersFetchTest {
    static final BlockFormat FORMAT = new BlockFormat("fetch-test-layout", 4, 256);

    static BlockKey key(int chain, int i) {
        byte[] b = new byte[32];
        b[0] = (byte) chain;
        b[1] = (byte) i;
        return BlockKey.of(b);
    }

    static BlockKey[] chain(int c) {
        return new BlockKey[] {key(c, 0), key(c, 1)};
    }

    /** Chain 1's fetch blocks until released; any other chain's blocks land at once. */
    static final class SlowForOneChain implements RemoteKvTier {
        final CountDownLatch slowStarted = new CountDownLatch(1), release = new CountDownLatch(1);
        final Duration deadline;
        final MemorySegment bytes = Arena.global().allocate(FORMAT.blockBytes());

        SlowForOneChain(Duration deadline) {
            this.deadline = deadline;
        }

        @Override public void attach(String namespace, byte[] fingerprint, BlockFormat format) {}

        @Override public Duration deadline() { return deadline; }

        @Override
        public int fetch(BlockKey[] keys, int from, int to, Landing landing) {
            if (keys[from].equals(key(1, 0))) {
                slowStarted.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return 0;
            }
            int n = 0;
            for (int i = from; i < to && landing.put(keys[i], i == 0 ? null : keys[i - 1], bytes); i++) n++;
            return n;
        }

        @Override public void publish(BlockKey key, BlockKey parent, int[] tokens, boolean salted, MemorySegment bytes) {}

        @Override
        public RemoteStats stats() {
            return new RemoteStats("fake", "ok", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        }

        @Override public void close() { release.countDown(); }
    }

    @Test
    void aSlowFetchForOneRequestDoesNotHoldAnother() throws Exception {
        var remote = new SlowForOneChain(Duration.ofHours(1)); // no deadline rescues the second request here
        try (KvTiers tiers = KvTiers.open(FORMAT, new byte[32], "ns", null, remote, 16)) {
            CompletableFuture<Void> slow = tiers.fetchAhead(() -> chain(1));
            assertTrue(remote.slowStarted.await(60, TimeUnit.SECONDS));
            CompletableFuture<Void> other = tiers.fetchAhead(() -> chain(2));
            other.get(60, TimeUnit.SECONDS); // fails (times out) when the other fetch waits behind the slow one
            assertEquals(2, tiers.cachedRun(chain(2), 0, 2), "the other request's blocks are there for its admission");
            assertFalse(slow.isDone(), "the slow fetch is still running");
            remote.release.countDown();
            slow.get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void aRequestGoesOnAtItsDeadlineWhileItsFetchHangs() throws Exception {
        var remote = new SlowForOneChain(Duration.ofMillis(50));
        try (KvTiers tiers = KvTiers.open(FORMAT, new byte[32], "ns", null, remote, 16)) {
            CompletableFuture<Void> slow = tiers.fetchAhead(() -> chain(1));
            assertTrue(remote.slowStarted.await(60, TimeUnit.SECONDS));
            slow.get(60, TimeUnit.SECONDS); // completes at its deadline: the fetch itself is still blocked
            assertEquals(1, remote.release.getCount(), "completed without the fetch returning");
            assertEquals(0, tiers.cachedRun(chain(1), 0, 2));
        } finally {
            remote.release.countDown();
        }
    }
}
