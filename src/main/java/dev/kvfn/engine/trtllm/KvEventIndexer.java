package dev.kvfn.engine.trtllm;

import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.tier.KvTiers;

import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Turns TensorRT-LLM's KV cache events into kvfn index entries. The engine names a block by its own 64-bit hash and
 * reports its tokens and its parent's hash; kvfn's index needs the SHA-256 chain keys every kvfn engine computes
 * ({@link BlockHasher}: model fingerprint, layout, cache salt at the root, tokens) at kvfn's block size. So each
 * stored engine block becomes {@code engineBlockTokens / blockTokens} kvfn blocks chained on its parent's last key,
 * and a removed one takes its kvfn blocks out of the index.
 *
 * <p>The events do not say which cache salt a chain belongs to: a root block takes the salt of the requests submitted
 * with those first tokens ({@link #submitted}); when requests with different salts (or none seen) started that way,
 * the chain is left out of the index (a missed hit, never a wrong key). Poller thread only, except {@link #submitted}.
 */
final class KvEventIndexer implements TrtllmExecutor.KvEvents {
    private static final System.Logger LOG = System.getLogger(KvEventIndexer.class.getName());
    /** Distinct first blocks remembered with their salts; older ones are forgotten (their chains then go unindexed). */
    static final int ROOTS = 8192;
    private static final String NO_SALT = "\u0000none";

    private final KvTiers tiers;
    private final BlockHasher hasher;
    private final int blockTokens, engineBlockTokens;
    private final Map<Long, Node> nodes = new HashMap<>();
    private final Map<Root, String> rootSalts;  // under itself; a value of AMBIGUOUS: more than one salt
    private static final String AMBIGUOUS = "\u0000ambiguous";
    private long skipped;

    /** One engine block as kvfn indexed it: its kvfn keys, root first, and whether its chain is salted. */
    private record Node(BlockKey[] keys, String salt) {
        BlockKey last() {
            return keys[keys.length - 1];
        }
    }

    /** The tokens of a chain's first engine block. */
    private record Root(int[] tokens) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Root r && Arrays.equals(r.tokens, tokens);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(tokens);
        }
    }

    KvEventIndexer(KvTiers tiers, BlockHasher hasher, int blockTokens, int engineBlockTokens) {
        if (engineBlockTokens < blockTokens || engineBlockTokens % blockTokens != 0) {
            throw new IllegalArgumentException("the TensorRT-LLM engine's " + engineBlockTokens + "-token KV blocks are not a multiple of "
                    + "kvfn.kv.block-tokens=" + blockTokens + "; set kvfn.kv.block-tokens to a divisor of " + engineBlockTokens);
        }
        this.tiers = tiers;
        this.hasher = hasher;
        this.blockTokens = blockTokens;
        this.engineBlockTokens = engineBlockTokens;
        this.rootSalts = new LinkedHashMap<>(256, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Root, String> eldest) {
                return size() > ROOTS;
            }
        };
    }

    /** A request was submitted: remembers which salt (null: none) its first engine block belongs to. Any thread. */
    void submitted(int[] prompt, String salt) {
        if (prompt.length < engineBlockTokens) return;
        Root root = new Root(Arrays.copyOf(prompt, engineBlockTokens));
        String s = salt == null ? NO_SALT : salt;
        synchronized (rootSalts) {
            rootSalts.merge(root, s, (old, now) -> old.equals(now) ? old : AMBIGUOUS);
        }
    }

    @Override
    public void stored(long hash, long parent, boolean hasParent, int[] tokens, int from, int count) {
        if (count != engineBlockTokens || nodes.containsKey(hash)) return;
        BlockKey parentKey;
        String salt;
        if (hasParent) {
            Node p = nodes.get(parent);
            if (p == null) { // its parent's event was dropped or came before this engine's start
                skipped++;
                return;
            }
            parentKey = p.last();
            salt = p.salt();
        } else {
            String s;
            synchronized (rootSalts) {
                s = rootSalts.get(new Root(Arrays.copyOfRange(tokens, from, from + count)));
            }
            if (s == null || s.equals(AMBIGUOUS)) {
                skipped++;
                return;
            }
            parentKey = null;
            salt = s.equals(NO_SALT) ? null : s;
        }
        BlockKey[] keys = new BlockKey[count / blockTokens];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = hasher.key(parentKey, salt, tokens, from + i * blockTokens, blockTokens);
            tiers.stored(keys[i], parentKey, tokens, from + i * blockTokens, salt != null, null);
            parentKey = keys[i];
        }
        nodes.put(hash, new Node(keys, salt));
    }

    @Override
    public void removed(long hash) {
        Node n = nodes.remove(hash);
        if (n == null) return;
        for (int i = n.keys().length - 1; i >= 0; i--) tiers.removed(n.keys()[i], i == 0 ? null : n.keys()[i - 1], null);
    }

    /**
     * A request reused {@code reusedTokens} of its prompt from the engine's cache: counts a hit on the chain's last
     * kvfn block (the shared index's hot set, which a warm start re-prefills).
     */
    void hit(int[] prompt, String salt, int reusedTokens) {
        int n = Math.min(reusedTokens, prompt.length) / blockTokens;
        if (n == 0) return;
        BlockKey key = null;
        for (int i = 0; i < n; i++) key = hasher.key(key, salt, prompt, i * blockTokens, blockTokens);
        tiers.hit(Objects.requireNonNull(key));
    }

    void logSummary() {
        if (skipped > 0) LOG.log(System.Logger.Level.INFO, "KV events left out of kvfn's index (unknown parent or cache salt): " + skipped);
    }
}
