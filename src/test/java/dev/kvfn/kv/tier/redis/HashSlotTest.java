package dev.kvfn.kv.tier.redis;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hash slots as the Redis Cluster specification computes them (RedisClusterTest checks them against a live cluster). */
class HashSlotTest {
    @Test
    void crc16OfTheKeyOrItsHashTag() {
        assertEquals(0x31C3, HashSlot.of("123456789")); // the specification's CRC16 check value
        assertEquals(12182, HashSlot.of("foo"));
        assertEquals(HashSlot.of("user1000"), HashSlot.of("{user1000}.following"));
        assertEquals(HashSlot.of("{user1000}.following"), HashSlot.of("{user1000}.followers"));
        assertEquals(HashSlot.of("bar"), HashSlot.of("foo{bar}{zap}")); // the first tag only
        assertEquals(HashSlot.of("{bar"), HashSlot.of("foo{{bar}}zap"));
        // values from redis-server 7.0's CLUSTER KEYSLOT
        assertEquals(4015, HashSlot.of("foo{{bar}}zap"));
        assertEquals(8363, HashSlot.of("foo{}{bar}")); // an empty tag: the whole key
        assertEquals(HashSlot.of("kvfn:fp:m:{ab12}"), HashSlot.of("kvfn:fp:d:{ab12}"));
        for (int i = 0; i < 1000; i++) assertTrue(HashSlot.of("k" + i) < HashSlot.SLOTS);
    }

    @Test
    void aKeyPrefixWithABraceIsRefused() {
        // it would be the hash tag of every key: the whole tier on one node
        var e = assertThrows(IllegalArgumentException.class, () -> new RedisKvTier(null, false, Duration.ofMillis(1), Duration.ofMillis(1),
                Duration.ofHours(1), "r", 1, "{team}", null, true));
        assertTrue(e.getMessage().contains("braces"), e.getMessage());
    }
}
