package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockKey;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The KV tiers below an engine's own pool, behind one facade that does not know which engine
 * calls it. An engine reports what its pool holds ({@link #stored}, {@link #removed}: key, parent,
 * tokens, and bytes when its blocks can leave the device) and asks what lies below
 * ({@link #cachedRun}, {@link #restore} into a {@link BlockSink}, {@link #fetchAhead} before
 * admission, {@link #prewarmChains} / {@link #hotPrefixes} at start-up). Behind it: the
 * {@link HostStore} (a file that outlives the process) and the {@link RemoteKvTier} (Redis, shared
 * by replicas), either or both. The CPU engine moves bytes both ways; an engine that cannot import
 * bytes (TensorRT-LLM) only reports, keeping the shared index current, and re-prefills
 * {@link #hotPrefixes} at start.
 *
 * <p>Threads: {@link #stored}, {@link #removed}, {@link #cachedRun} and {@link #restore} come from
 * the engine's loop (restore: one call at a time); {@link #fetchAhead} work runs on this facade's
 * own small pool of fetch threads, each fetch under its request's deadline (the remote tier's), so a
 * slow or hostile fetch for one request never holds another's admission; bytes are written by the
 * spill thread. Nothing here throws at the engine for a
 * tier's failure: a tier that fails costs hits.
 */
public final class KvTiers implements AutoCloseable {
    private final BlockFormat format;
    private static final System.Logger LOG = System.getLogger(KvTiers.class.getName());

    private final HostStore hostStore;         // null: none
    private final String hostRefused;          // why the host store was not opened (unsafe path), or null
    /** Set once when the host store's file fails under it: the tier is off from then on (see {@link #host()}). */
    private final java.util.concurrent.atomic.AtomicBoolean hostOff = new java.util.concurrent.atomic.AtomicBoolean();
    private final RemoteKvTier remote;         // null: none
    private final SpillPolicy policy;
    private final BlockSpiller spiller;        // null: no tier takes bytes
    private final StagedBlocks staged;         // remote fetches without a host store land here; else null
    private final RemoteKvTier.Landing landing;
    private final ExecutorService fetcher;     // remote lookups before admission, off the compute loop
    /** Fetches running at once: one request's slow fetch leaves the others theirs. */
    static final int FETCH_THREADS = 4;
    private final java.time.Duration fetchDeadline;
    /** Keys the engine reported stored and not yet removed: a fetch never brings what the engine holds. */
    private final Set<BlockKey> inEngine = ConcurrentHashMap.newKeySet();
    /** Fetched from the remote and not yet restored: their restores count as remote hits. */
    private final Set<BlockKey> fetched = ConcurrentHashMap.newKeySet();
    private static final int MAX_FETCHED = 1 << 16;
    private final AtomicLong hostHitTokens = new AtomicLong(), remoteHitTokens = new AtomicLong(),
            hostRestores = new AtomicLong(), hostRestoreNanos = new AtomicLong(), hostRestoredBytes = new AtomicLong();

    // restore scratch, engine thread only
    private int[] slots = new int[0], crcs = new int[0];
    private long[] generations = new long[0];
    private boolean[] ok = new boolean[0];

    private KvTiers(BlockFormat format, HostStore host, String hostRefused, RemoteKvTier remote, SpillPolicy policy, int queueBlocks,
                    int stagedBlocks) {
        this.format = format;
        this.hostStore = host;
        this.hostRefused = hostRefused;
        this.remote = remote;
        this.policy = policy;
        boolean bytesMove = format.hasBytes() && (host != null || remote != null);
        this.spiller = bytesMove ? new BlockSpiller(format.blockBytes(), queueBlocks, this::write) : null;
        this.staged = remote != null && host == null && format.hasBytes() ? new StagedBlocks(stagedBlocks) : null;
        this.landing = host != null ? this::land : staged;
        this.fetcher = remote != null && format.hasBytes()
                ? Executors.newFixedThreadPool(FETCH_THREADS, Thread.ofPlatform().daemon().name("kvfn-kv-fetch-", 0).factory()) : null;
        this.fetchDeadline = remote == null ? java.time.Duration.ZERO : remote.deadline();
    }

    /**
     * Opens the tiers for one model and block format.
     *
     * @param fingerprint  the model fingerprint (the host store is bound to it)
     * @param namespace    a short text naming the model in shared tiers and directories
     * @param hostOptions  the host store, or null for none
     * @param remote       the shared tier, or null for none
     * @param stagedBlocks without a host store, how many fetched blocks may wait for their admission
     */
    public static KvTiers open(BlockFormat format, byte[] fingerprint, String namespace, HostStoreOptions hostOptions,
                               RemoteKvTier remote, int stagedBlocks) {
        HostStore host = null;
        String refused = null;
        if (hostOptions != null && format.hasBytes()) {
            try {
                host = HostStore.open(hostOptions.directory(), namespace, fingerprint, format, hostOptions.bytes(), hostOptions.secret());
            } catch (HostStoreFiles.Unsafe e) {
                // someone else's file or a link where the store belongs: never written through, never "repaired"
                refused = e.getMessage();
                LOG.log(System.Logger.Level.WARNING, "host KV store off: " + refused);
            }
        }
        if (remote != null) remote.attach(namespace, fingerprint, format);
        SpillPolicy policy = hostOptions == null ? SpillPolicy.WRITE_THROUGH : hostOptions.policy();
        int queue = hostOptions == null ? 64 : hostOptions.queueBlocks();
        return new KvTiers(format, host, refused, remote, policy, queue, stagedBlocks);
    }

    public BlockFormat format() { return format; }

    // ---- what the engine reports -----------------------------------------------------------------

    /**
     * A full block entered the engine's cache under {@code key}: its tokens are
     * {@code tokens[from .. from + blockTokens)}, {@code bytes} its contents (null for an engine
     * whose blocks cannot leave the device). Copies what it keeps and returns quickly.
     *
     * @param salted whether the chain belongs to a cache salt
     */
    public void stored(BlockKey key, BlockKey parent, int[] tokens, int from, boolean salted, MemorySegment bytes) {
        inEngine.add(key);
        int[] ids = remote == null ? null : Arrays.copyOfRange(tokens, from, from + format.blockTokens());
        if (bytes == null || spiller == null) {
            if (remote != null) remote.publish(key, parent, ids, salted, null);
            return;
        }
        if (policy == SpillPolicy.WRITE_THROUGH) spiller.offer(key, parent, ids, salted, bytes);
    }

    /** {@code key} left the engine's cache; {@code bytes} (null when none) are intact during the call. */
    public void removed(BlockKey key, BlockKey parent, MemorySegment bytes) {
        inEngine.remove(key);
        HostStore host = host();
        if (bytes != null && spiller != null && policy == SpillPolicy.ON_EVICT && (host == null || !host.contains(key))) {
            spiller.offer(key, parent, null, false, bytes); // no token ids: byte-moving engines restore bytes, not tokens
        }
    }

    /** A request was served from a cached chain ending at {@code last} (the shared tier's hot set). */
    public void hit(BlockKey last) {
        if (remote != null) remote.hit(last);
    }

    private boolean write(BlockKey key, BlockKey parent, int[] tokens, boolean salted, MemorySegment bytes) {
        HostStore host = host();
        boolean kept;
        try {
            kept = host == null || host.put(key, parent, bytes, 0);
        } catch (HostStore.Damaged | InternalError e) {
            hostFailed(e);
            kept = false;
        }
        if (kept && remote != null) remote.publish(key, parent, tokens, salted, bytes);
        return kept;
    }

    /** A block fetched from the remote tier lands in the host store (while it works). */
    private boolean land(BlockKey key, BlockKey parent, MemorySegment bytes) {
        HostStore host = host();
        if (host == null) return false;
        try {
            return host.put(key, parent, bytes, 0);
        } catch (HostStore.Damaged | InternalError e) {
            hostFailed(e);
            return false;
        }
    }

    /** The host store while it works, else null. */
    private HostStore host() {
        return hostOff.get() ? null : hostStore;
    }

    /**
     * The host store's file failed under the process (cut short: a mapped read would be a SIGBUS, which
     * Java raises as an {@link InternalError}): the tier turns off, requests compute what it held, the
     * engine goes on. The next start repairs the file. Logged once.
     */
    private void hostFailed(Throwable e) {
        if (hostOff.compareAndSet(false, true)) {
            LOG.log(System.Logger.Level.WARNING, "host KV store turned off until restart: " + e.getMessage()
                    + " (prefixes it held are computed instead)");
        }
    }

    // ---- what the engine asks --------------------------------------------------------------------

    /** How many of {@code keys[from .. to)}, consecutively from {@code from}, a {@link #restore} could bring back. */
    public int cachedRun(BlockKey[] keys, int from, int to) {
        int n = 0;
        HostStore host = host();
        if (host != null) while (from + n < to && host.contains(keys[from + n])) n++;
        else if (staged != null) while (from + n < to && staged.contains(keys[from + n])) n++;
        return n;
    }

    /**
     * Restores {@code keys[from .. from + count)} into the sink's blocks {@code 0 .. count)}, each
     * checksum-verified. Returns how many leading blocks are good (a bad or vanished one ends the
     * run; the sink's blocks past it hold nothing usable).
     */
    public int restore(BlockKey[] keys, int from, int count, BlockSink sink) {
        if (count <= 0) return 0;
        long t0 = System.nanoTime();
        int good;
        HostStore host = host();
        if (host != null) {
            ensureScratch(count);
            BlockKey[] run = from == 0 && keys.length == count ? keys : Arrays.copyOfRange(keys, from, from + count);
            try {
                // plan under the store's lock, copy and verify on the engine's threads without it, then settle
                int planned = host.plan(run, count, slots, generations, crcs);
                MemorySegment dst = sink.segment();
                sink.forEach(planned, i -> ok[i] = host.copyVerified(run[i], slots[i], crcs[i], dst, sink.offset(i)));
                good = host.commit(run, planned, slots, generations, ok);
            } catch (HostStore.Damaged | InternalError e) {
                hostFailed(e);
                return 0;
            }
        } else if (staged != null) {
            good = 0;
            while (good < count && staged.take(keys[from + good], sink.segment(), sink.offset(good))) good++;
        } else {
            return 0;
        }
        if (good > 0 && host != null) {
            hostRestores.addAndGet(good);
            hostRestoredBytes.addAndGet(good * format.blockBytes());
            hostRestoreNanos.addAndGet(System.nanoTime() - t0);
        }
        for (int i = 0; i < good; i++) {
            inEngine.add(keys[from + i]);
            if (fetched.remove(keys[from + i])) remoteHitTokens.addAndGet(format.blockTokens());
            else hostHitTokens.addAndGet(format.blockTokens());
        }
        return good;
    }

    private void ensureScratch(int n) {
        if (slots.length >= n) return;
        slots = new int[n];
        crcs = new int[n];
        generations = new long[n];
        ok = new boolean[n];
    }

    /** Whether {@link #fetchAhead} does anything (a remote tier holding bytes). */
    public boolean fetchesAhead() {
        return fetcher != null;
    }

    /**
     * Before a request is admitted, on the fetch thread: the part of its chain ({@code keys}, computed
     * there) that neither the engine nor the host store holds is looked up in the remote tier and
     * landed where {@link #restore} finds it. Bounded by the remote's deadlines; any failure just means
     * those blocks are computed. Completes when done (never exceptionally).
     *
     * @throws IllegalStateException when the tiers are closed
     */
    public CompletableFuture<Void> fetchAhead(Supplier<BlockKey[]> keys) {
        if (fetcher == null) return CompletableFuture.completedFuture(null);
        var task = new Fetch(keys, System.nanoTime() + fetchDeadline.toNanos());
        try {
            fetcher.execute(task);
        } catch (RejectedExecutionException e) {
            throw new IllegalStateException("KV tiers are closed");
        }
        // the request goes on at its deadline even when its fetch does not return (what lands later is a cache fill)
        return task.done.copy().completeOnTimeout(null, fetchDeadline.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** A fetch ahead of admission; completes whether it ran, failed or was dropped at close. */
    private final class Fetch implements Runnable {
        final Supplier<BlockKey[]> keys;
        final long deadline;
        final CompletableFuture<Void> done = new CompletableFuture<>();

        Fetch(Supplier<BlockKey[]> keys, long deadline) {
            this.keys = keys;
            this.deadline = deadline;
        }

        @Override
        public void run() {
            try {
                if (System.nanoTime() - deadline < 0) fetchMissing(keys.get()); // else its request went on without it
            } catch (RuntimeException e) {
                // the remote tier never fails a request
            } finally {
                done.complete(null);
            }
        }
    }

    private void fetchMissing(BlockKey[] keys) {
        int from = 0;
        while (from < keys.length && (inEngine.contains(keys[from]) || cachedRun(keys, from, from + 1) == 1)) from++;
        if (from == keys.length) return;
        int landed = remote.fetch(keys, from, keys.length, landing);
        if (fetched.size() > MAX_FETCHED) fetched.clear(); // fetched, never restored (cancelled): only hit attribution is lost
        for (int i = from; i < from + landed; i++) fetched.add(keys[i]);
    }

    /**
     * Start-up: the chains worth restoring into a fresh pool, most recently used first, each root
     * first, with about {@code maxBlocks} distinct keys in all. With a remote tier, its hottest
     * chains that the host store lacks are fetched into it first, so a new replica starts with them.
     */
    public List<BlockKey[]> prewarmChains(int maxBlocks) {
        HostStore host = host();
        if (maxBlocks <= 0 || host == null) return List.of();
        if (remote != null) {
            try {
                for (BlockKey[] chain : remote.hotChains(maxBlocks)) {
                    int from = cachedRun(chain, 0, chain.length);
                    if (from < chain.length) remote.fetch(chain, from, chain.length, landing);
                }
            } catch (RuntimeException e) {
                // the remote tier never fails a start-up
            }
        }
        List<BlockKey> recent = host.keysByRecency();
        Set<BlockKey> taken = new HashSet<>();
        List<BlockKey[]> chains = new ArrayList<>();
        try {
            for (int i = recent.size() - 1; i >= 0 && taken.size() < maxBlocks; i--) {
                BlockKey end = recent.get(i);
                if (taken.contains(end)) continue;
                ArrayDeque<BlockKey> chain = new ArrayDeque<>();
                BlockKey k = end;
                while (k != null && host.contains(k)) {
                    chain.push(k);
                    k = host.parent(k);
                }
                if (k != null) continue; // an ancestor is gone from the store: the chain cannot be rebuilt
                chains.add(chain.toArray(BlockKey[]::new));
                taken.addAll(chain);
            }
        } catch (HostStore.Damaged | InternalError e) {
            hostFailed(e);
            return List.of();
        }
        return chains;
    }

    /**
     * Start-up, for an engine that cannot import bytes: the token ids of the hottest unsalted
     * chains the shared index knows (at most {@code maxBlocks} blocks in all), hottest first, to be
     * re-prefilled before the replica reports ready. Empty without a remote tier.
     */
    public List<int[]> hotPrefixes(int maxBlocks) {
        if (remote == null || maxBlocks <= 0) return List.of();
        List<int[]> prefixes = new ArrayList<>();
        try {
            for (BlockKey[] chain : remote.hotChains(maxBlocks)) {
                int[] tokens = remote.chainTokens(chain);
                if (tokens != null && tokens.length == chain.length * format.blockTokens()) prefixes.add(tokens);
            }
        } catch (RuntimeException e) {
            // fewer prefixes warm, nothing worse
        }
        return prefixes;
    }

    /** Waits until every block handed to the tiers so far is written and the host store synced. */
    public boolean flush(Duration timeout) throws InterruptedException {
        if (spiller != null && !spiller.drain(timeout.toNanos(), TimeUnit.NANOSECONDS)) return false;
        HostStore host = host();
        if (host != null) host.flush();
        return true;
    }

    /** Each tier's numbers: the host store first, then the remote tier. */
    public List<TierStats> stats() {
        List<TierStats> out = new ArrayList<>(2);
        long dropped = spiller == null ? 0 : spiller.dropped();
        if (hostRefused != null) {
            out.add(new TierStats("host", "off: " + hostRefused, 0, 0, 0, 0, 1, 0, TierStats.Transfers.NONE, TierStats.Transfers.NONE));
        }
        if (hostStore != null) {
            HostStore.HostStoreStats h = hostStore.stats();
            out.add(new TierStats("host", hostOff.get() ? "off: its file failed under the process" : "ok", h.blocks(), h.slots(), hostHitTokens.get(), h.evictions(),
                    h.faults() + h.writeErrors() + (hostOff.get() ? 1 : 0),
                    dropped, new TierStats.Transfers(h.writes(), spiller.spilledBytes(), spiller.spillNanos()),
                    new TierStats.Transfers(hostRestores.get(), h.restoredBytes(), hostRestoreNanos.get())));
        }
        if (remote != null) {
            RemoteKvTier.RemoteStats r = remote.stats();
            out.add(new TierStats(r.tier(), r.state(), -1, -1, remoteHitTokens.get(), 0, r.faults() + r.errors() + r.timeouts(),
                    r.publishDropped() + (hostStore == null ? dropped : 0),
                    new TierStats.Transfers(r.published(), r.publishedBytes(), 0),
                    new TierStats.Transfers(r.hitBlocks(), r.restoredBytes(), r.restoreNanos())));
        }
        return out;
    }

    /** Where the host store is and what opening it found, or null without one. */
    public String hostStoreDescription() {
        HostStore host = hostStore;
        if (hostRefused != null) return "off: " + hostRefused;
        if (host == null) return null;
        return host.file() + " (" + host.openOutcome() + ", " + host.size() + " of " + host.capacity() + " blocks, policy "
                + policy.configName() + (hostOff.get() ? ", off: its file failed under the process" : "") + ")";
    }

    /** Flushes what is queued, syncs the host store, lets remote publications land (bounded). */
    @Override
    public void close() {
        if (fetcher != null) {
            for (Runnable dropped : fetcher.shutdownNow()) ((Fetch) dropped).done.complete(null); // their requests learn the engine closed
        }
        if (spiller != null) spiller.close();
        if (hostStore != null) hostStore.close();
        if (remote != null) remote.close();
    }
}
