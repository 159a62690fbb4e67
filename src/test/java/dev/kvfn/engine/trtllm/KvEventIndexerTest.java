package dev.kvfn.engine.trtllm;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.tier.KvTiers;
import org.junit.jupiter.api.Test;

import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the indexer leaves out of kvfn's index: chains it cannot key for certain (unknown parent, ambiguous salt). */
class KvEventIndexerTest {
    static final byte[] FP = new byte[32];
    static final BlockFormat FORMAT = new BlockFormat("trtllm/test", 4, 0);

    static int[] tokens(int from) {
        return IntStream.range(from, from + 8).toArray();
    }

    @Test
    void aRootSeenWithOneSaltIsIndexedUnderIt() {
        var index = new IndexTier();
        try (var tiers = KvTiers.open(FORMAT, FP, "t", null, index, 0)) {
            var hasher = new BlockHasher(FP, FORMAT.layoutId());
            var indexer = new KvEventIndexer(tiers, hasher, 4, 8);
            int[] prompt = tokens(10);
            indexer.submitted(prompt, "tenant");
            indexer.stored(100, 0, false, prompt, 0, 8);
            indexer.stored(101, 100, true, tokens(20), 0, 8);
            var entries = index.inOrder();
            assertEquals(4, entries.size(), "two engine blocks of 8 are four kvfn blocks of 4");
            assertEquals(hasher.key(null, "tenant", prompt, 0, 4), entries.get(0).key());
            assertEquals(entries.get(0).key(), entries.get(1).parent());
            assertEquals(entries.get(1).key(), entries.get(2).parent(), "the child chains on its parent's last kvfn block");
            assertArrayEquals(new int[]{20, 21, 22, 23}, entries.get(2).tokens());
            assertTrue(entries.stream().allMatch(IndexTier.Entry::salted));
        }
    }

    @Test
    void chainsThatCannotBeKeyedForCertainAreLeftOut() {
        var index = new IndexTier();
        try (var tiers = KvTiers.open(FORMAT, FP, "t", null, index, 0)) {
            var indexer = new KvEventIndexer(tiers, new BlockHasher(FP, FORMAT.layoutId()), 4, 8);
            int[] shared = tokens(30);
            indexer.submitted(shared, "a");
            indexer.submitted(shared, "b");
            indexer.stored(1, 0, false, shared, 0, 8);          // two tenants started with these tokens: which salt?
            indexer.stored(2, 0, false, tokens(40), 0, 8);      // no request seen with this root
            indexer.stored(3, 99, true, tokens(50), 0, 8);      // its parent was never indexed
            indexer.stored(4, 0, false, new int[4], 0, 4);      // not a whole engine block
            indexer.removed(1);
            assertTrue(index.inOrder().isEmpty());
        }
    }

    @Test
    void anEngineBlockSizeThatKvfnBlocksDoNotDivideIsRefused() {
        try (var tiers = KvTiers.open(FORMAT, FP, "t", null, new IndexTier(), 0)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new KvEventIndexer(tiers, new BlockHasher(FP, FORMAT.layoutId()), 4, 6));
            assertFalse(e.getMessage().isEmpty());
        }
    }
}
