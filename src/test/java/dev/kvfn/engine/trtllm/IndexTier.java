package dev.kvfn.engine.trtllm;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.tier.RemoteKvTier;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;

/**
 * A shared index in memory, standing in for Redis: it keeps what engines publish (key, parent, tokens, salted), in
 * order, and answers hot chains (most recently published leaves first) with their tokens, as RedisKvTier does.
 */
final class IndexTier implements RemoteKvTier {
    record Entry(BlockKey key, BlockKey parent, int[] tokens, boolean salted) {}

    final Map<BlockKey, Entry> entries = new LinkedHashMap<>();
    final List<BlockKey> hits = new ArrayList<>();
    /** One permit per publication: tests wait for the number they expect. */
    final Semaphore published = new Semaphore(0);

    @Override
    public void attach(String namespace, byte[] fingerprint, BlockFormat format) {}

    @Override
    public int fetch(BlockKey[] keys, int from, int to, Landing landing) {
        return 0;
    }

    @Override
    public synchronized void publish(BlockKey key, BlockKey parent, int[] tokens, boolean salted, MemorySegment bytes) {
        entries.put(key, new Entry(key, parent, tokens == null ? null : tokens.clone(), salted));
        published.release();
    }

    @Override
    public synchronized void hit(BlockKey last) {
        hits.add(last);
    }

    synchronized List<Entry> inOrder() {
        return new ArrayList<>(entries.values());
    }

    @Override
    public synchronized List<BlockKey[]> hotChains(int maxBlocks) {
        var parents = new java.util.HashSet<BlockKey>();
        for (Entry e : entries.values()) if (e.parent() != null) parents.add(e.parent());
        List<Entry> leaves = new ArrayList<>();
        for (Entry e : entries.values()) if (!parents.contains(e.key()) && !e.salted()) leaves.add(e);
        java.util.Collections.reverse(leaves);
        List<BlockKey[]> chains = new ArrayList<>();
        int taken = 0;
        for (Entry leaf : leaves) {
            var chain = new java.util.ArrayDeque<BlockKey>();
            for (Entry e = leaf; e != null; e = e.parent() == null ? null : entries.get(e.parent())) chain.push(e.key());
            if (taken + chain.size() > maxBlocks) break;
            taken += chain.size();
            chains.add(chain.toArray(BlockKey[]::new));
        }
        return chains;
    }

    @Override
    public synchronized int[] chainTokens(BlockKey[] chain) {
        int n = 0;
        for (BlockKey k : chain) {
            Entry e = entries.get(k);
            if (e == null || e.tokens() == null || e.salted()) return null;
            n += e.tokens().length;
        }
        int[] out = new int[n];
        int at = 0;
        for (BlockKey k : chain) {
            int[] t = entries.get(k).tokens();
            System.arraycopy(t, 0, out, at, t.length);
            at += t.length;
        }
        return out;
    }

    @Override
    public RemoteStats stats() {
        return new RemoteStats("index", "ok", 0, 0, 0, entries.size(), 0, 0, 0, 0, 0, 0, 0);
    }

    @Override
    public void close() {}
}
