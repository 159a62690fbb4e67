package dev.kvfn.kv;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BlockPoolTest {
    private static final KvLayout LAYOUT = new KvLayout(2, 2, 8, 4, KvElementType.F16);

    private static BlockKey key(int n) {
        byte[] b = new byte[32];
        b[0] = (byte) n;
        b[1] = (byte) (n >>> 8);
        b[31] = 7;
        return BlockKey.of(b);
    }

    @Test
    void layoutSizesAreWhatTheFormatSays() {
        // 2 layers x K,V x 2 heads x (8 dims x 4 tokens) x 2 bytes = 512 bytes
        assertEquals(512, LAYOUT.blockBytes());
        assertEquals(128.0, LAYOUT.bytesPerToken());
        var q8 = new KvLayout(2, 2, 8, 4, KvElementType.Q8);
        assertEquals(256 + 64, q8.blockBytes()); // 256 data + 8 scales x 4 bytes = 288, rounded to 320
        assertThrows(IllegalArgumentException.class, () -> new KvLayout(2, 2, 8, 12, KvElementType.F16));
        assertThrows(IllegalArgumentException.class, () -> KvElementType.parse("bf16"));
        assertEquals(KvElementType.Q8, KvElementType.parse(" Q8 "));
    }

    /** The same pool state as below, drained: the order allocate() hands the free blocks out in. */
    private static int[] allocationOrder(int[] a, int[] b) {
        var pool = new BlockPool(6);
        for (int i = 0; i < 3; i++) assertEquals(a[i], pool.allocate());
        for (int i = 0; i < 3; i++) assertTrue(pool.register(a[i], key(i), null));
        for (int i = 0; i < 2; i++) assertEquals(b[i], pool.allocate());
        assertTrue(pool.register(b[0], key(10), null));
        pool.release(a, 3);
        pool.release(b, 2);
        int[] order = new int[6];
        for (int i = 0; i < 6; i++) order[i] = pool.allocate();
        assertEquals(-1, pool.allocate(), "all six handed out");
        return order;
    }

    @Test
    void freedCachedBlocksAreEvictedLeastRecentlyUsedDeepestFirst() {
        {
            var pool = new BlockPool(6);
            int[] a = {pool.allocate(), pool.allocate(), pool.allocate()};
            for (int i = 0; i < 3; i++) assertTrue(pool.register(a[i], key(i), null));
            int[] b = {pool.allocate(), pool.allocate()};
            assertTrue(pool.register(b[0], key(10), null));
            // b[1] stays keyless (a partial block)
            pool.release(a, 3);
            pool.release(b, 2);
            pool.checkInvariants();
            // the keyless block first, then the never-used one, then a's chain deepest first, then b's full block
            assertArrayEquals(new int[]{b[1], 5, a[2], a[1], a[0], b[0]}, allocationOrder(a, b));
            assertEquals(4, pool.cachedIdle());
            var evicted = new ArrayList<BlockKey>();
            pool.setListener(new BlockPool.Listener() {
                @Override
                public void evicted(BlockKey k, BlockKey parent, int block) {
                    assertEquals(k, pool.key(block), "bytes and key are still intact while the listener runs");
                    evicted.add(k);
                }
            });
            assertEquals(b[1], pool.allocate());
            pool.allocate(); // the never-used sixth block
            assertEquals(a[2], pool.allocate());
            assertEquals(List.of(key(2)), evicted);
            assertEquals(-1, pool.lookup(key(2)));
            assertEquals(a[0], pool.lookup(key(0)));
            pool.checkInvariants();
        }
    }

    @Test
    void aCacheHitTakesTheBlockOutOfTheFreeQueueAndNeverEvictsIt() {
        {
            var pool = new BlockPool(2);
            int x = pool.allocate();
            pool.register(x, key(1), null);
            pool.release(new int[]{x}, 1);
            assertEquals(2, pool.available());
            pool.take(pool.lookup(key(1)));
            assertEquals(1, pool.available());
            assertEquals(1, pool.refCount(x));
            int y = pool.allocate();
            assertEquals(-1, pool.allocate(), "the referenced cached block is not evictable");
            assertEquals(x, pool.lookup(key(1)));
            pool.release(new int[]{x, y}, 2);
            pool.checkInvariants();
        }
    }

    @Test
    void aSecondBlockWithTheSameKeyStaysKeyless() {
        {
            var pool = new BlockPool(2);
            int x = pool.allocate(), y = pool.allocate();
            assertTrue(pool.register(x, key(5), null));
            assertFalse(pool.register(y, key(5), null));
            assertNull(pool.key(y));
            assertEquals(x, pool.lookup(key(5)));
            assertThrows(IllegalStateException.class, () -> pool.register(x, key(6), null));
            pool.release(new int[]{x, y}, 2);
            assertThrows(IllegalStateException.class, () -> pool.release(new int[]{x}, 1));
            pool.checkInvariants();
        }
    }

    /**
     * Random sequences of allocate / register / take (cache hit) / release against a model of
     * which sequence holds which block; the pool's invariants are checked after every operation.
     */
    @Test
    void randomizedAccountingHoldsAfterEveryOperation() {
        var rng = new SplittableRandom(42);
        for (int round = 0; round < 20; round++) {
            int blocks = 1 + rng.nextInt(24);
            {
            var pool = new BlockPool(blocks);
                List<int[]> owned = new ArrayList<>();     // per live sequence: its blocks
                Map<BlockKey, Integer> everRegistered = new HashMap<>();
                int nextKey = 0;
                for (int op = 0; op < 2000; op++) {
                    int choice = rng.nextInt(4);
                    if (choice == 0) { // a new sequence allocates 1..4 blocks, giving keys to some
                        int want = 1 + rng.nextInt(4);
                        int[] got = new int[want];
                        int n = 0;
                        while (n < want) {
                            int b = pool.allocate();
                            if (b < 0) break;
                            got[n++] = b;
                        }
                        if (n == 0) continue;
                        for (int i = 0; i < n; i++) {
                            if (rng.nextInt(3) > 0) {
                                BlockKey k = key(rng.nextInt(64)); // collisions on purpose
                                if (pool.register(got[i], k, null)) everRegistered.put(k, got[i]);
                                nextKey++;
                            }
                        }
                        owned.add(Arrays.copyOf(got, n));
                    } else if (choice == 1 && !everRegistered.isEmpty()) { // a cache hit
                        BlockKey k = key(rng.nextInt(64));
                        int b = pool.lookup(k);
                        if (b >= 0) {
                            assertEquals(k, pool.key(b));
                            pool.take(b);
                            owned.add(new int[]{b});
                        }
                    } else if (!owned.isEmpty()) { // a sequence ends
                        int[] seq = owned.remove(rng.nextInt(owned.size()));
                        pool.release(seq, seq.length);
                    }
                    pool.checkInvariants();
                    int referenced = (int) owned.stream().flatMapToInt(Arrays::stream).distinct().count();
                    assertEquals(referenced, pool.referenced(), "referenced blocks match what sequences hold");
                }
                for (int[] seq : owned) pool.release(seq, seq.length);
                pool.checkInvariants();
                assertEquals(blocks, pool.available());
                assertTrue(nextKey > 0);
            }
        }
    }
}
