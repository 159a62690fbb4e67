package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockKey;

import java.lang.foreign.MemorySegment;

/** One block through {@link HostStore#plan}, {@link HostStore#copyVerified} and {@link HostStore#commit} (tests, benchmarks). */
public final class HostStoreRestore {
    private HostStoreRestore() {}

    /** Copies and verifies {@code key}'s block into {@code dst} at {@code offset}; false when absent or bad (dropped). */
    public static boolean restore(HostStore store, BlockKey key, MemorySegment dst, long offset) {
        BlockKey[] keys = {key};
        int[] slot = new int[1], crc = new int[1];
        long[] generation = new long[1];
        if (store.plan(keys, 1, slot, generation, crc) == 0) return false;
        boolean[] ok = {store.copyVerified(key, slot[0], crc[0], dst, offset)};
        return store.commit(keys, 1, slot, generation, ok) == 1;
    }
}
