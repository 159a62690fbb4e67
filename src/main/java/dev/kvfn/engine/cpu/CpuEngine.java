package dev.kvfn.engine.cpu;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.EngineStats;
import dev.kvfn.engine.EngineUnavailableException;
import dev.kvfn.engine.GenerationFailedException;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.cpu.kernel.ComputePriority;
import dev.kvfn.engine.cpu.kernel.Matrices;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.engine.structured.ConstraintCursor;
import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockHasher;
import dev.kvfn.kv.BlockMemory;
import dev.kvfn.kv.BlockPool;
import dev.kvfn.kv.KvLayout;
import dev.kvfn.kv.tier.HostStoreOptions;
import dev.kvfn.kv.tier.KvTiers;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFingerprint;
import dev.kvfn.scheduler.Scheduler;
import dev.kvfn.scheduler.Sequence;
import dev.kvfn.scheduler.StepPlan;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The pure-Java engine: one model, one paged KV pool, one thread that runs the {@link Scheduler}'s
 * steps through the {@link Transformer} and samples the next tokens. The scheduler decides which
 * token rows each step computes (continuous batching, chunked prefill, preemption, prefix hits);
 * this class turns a step plan into one batched forward pass, so each weight matrix is streamed
 * once per step for all sequences, and hands the sampled tokens back. The KV tiers below the pool
 * (host store, Redis) are reached only through {@link KvTiers}, by way of {@link BlockMover}.
 */
public final class CpuEngine implements Engine {
    private static final System.Logger LOG = System.getLogger(CpuEngine.class.getName());
    /** Token rows one step may carry at most, whatever the config says: bounds activation memory. */
    static final int MAX_STEP_ROWS = 2048;

    private final CpuModel model;
    private final EngineOptions options;
    private final WorkerPool workers;
    private final Transformer transformer;
    private final BlockMemory memory;
    private final String keyLayoutId;
    private final KvTiers tiers;        // null: the pool is the only tier
    private final Scheduler scheduler;
    private final Sampler sampler;
    private final Thread thread;
    private volatile boolean closed;
    private volatile String dead; // why the loop stopped for good, or null
    private volatile EngineStats stats = EngineStats.NONE;

    // the loop thread's
    private final Transformer.StepBatch batch;
    private final float[] rowLogits;

    private CpuEngine(CpuModel model, WorkerPool workers, EngineOptions options) {
        this.model = model;
        this.workers = workers;
        this.options = options;
        LlamaConfig config = model.config();
        Scheduler.Limits limits = options.schedulerLimits();
        int stepRows = Math.min(limits.maxStepTokens(), MAX_STEP_ROWS);
        limits = new Scheduler.Limits(limits.maxSeqs(), stepRows, limits.maxQueue(), limits.prefixCaching());
        this.transformer = new Transformer(config, model.weights(), workers, stepRows);
        KvLayout layout = new KvLayout(config.layers(), config.kvHeads(), config.headSize(), options.blockTokens(), options.kvType());
        BlockFormat format = layout.format();
        int blocks = BlockMemory.blocksIn(layout, poolBytes(options, layout, config.contextLength(), model.fileBytes()));
        this.memory = new BlockMemory(layout, blocks);
        ModelFingerprint fp = model.fingerprint();
        // Block keys bind the kernels' numerics too: a replica on other kernels (scalar, another vector width) misses
        // this one's blocks in the host store and Redis and computes its own, so cached and uncached tokens stay equal.
        this.keyLayoutId = format.layoutId() + ";numerics=" + Matrices.numerics();
        HostStoreOptions host = options.hostStore();
        boolean tiered = options.prefixCaching() && (host != null || options.remote() != null);
        int contextBlocks = (config.contextLength() + layout.blockTokens() - 1) / layout.blockTokens();
        this.tiers = tiered ? KvTiers.open(format, fp.digest(), fp.shortHex(), host, options.remote(), 2 * contextBlocks) : null;
        this.scheduler = new Scheduler(new BlockPool(blocks), layout.blockTokens(), config.contextLength(), limits,
                () -> new BlockHasher(fp.digest(), keyLayoutId),
                tiers == null ? null : new BlockMover(tiers, memory, workers), model.tokenizer());
        this.sampler = new Sampler(config.vocab());
        this.batch = new Transformer.StepBatch(stepRows, limits.maxSeqs(), config.vocab());
        this.rowLogits = new float[config.vocab()];
        if (tiers != null && host != null && host.prewarmBlocks() > 0) {
            int most = Math.min(host.prewarmBlocks(), blocks / 2);
            scheduler.prewarm(tiers.prewarmChains(most), most);
        }
        publishStats();
        this.thread = Thread.ofPlatform().name("kvfn-cpu-engine").daemon().unstarted(this::serve);
        this.thread.start();
    }

    /**
     * The pool size: {@code kvfn.kv.pool-bytes} when set; otherwise enough for {@code maxSeqs}
     * sequences at full context, capped at {@code poolMemoryFraction} of the physical memory left
     * after the model file and the Java heap (the pool is off-heap), and at least one full-context
     * sequence's worth when that fits.
     */
    static long poolBytes(EngineOptions o, KvLayout layout, int contextLength, long modelBytes) {
        if (o.poolBytes() > 0) return o.poolBytes();
        long perSequence = (long) ((contextLength + layout.blockTokens() - 1) / layout.blockTokens()) * layout.blockBytes();
        long wanted = perSequence * o.maxSeqs();
        long left = Math.max(0, physicalMemory() - modelBytes - Runtime.getRuntime().maxMemory());
        long cap = (long) (left * o.poolMemoryFraction());
        return Math.max(layout.blockBytes(), Math.min(wanted, Math.max(cap, Math.min(perSequence, left))));
    }

    private static long physicalMemory() {
        try {
            if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
                return os.getTotalMemorySize();
            }
        } catch (RuntimeException | LinkageError e) {
            // fall through: no management bean (some native images)
        }
        return 8L << 30;
    }

    /** Loads a GGUF or llama2.c model (see {@link CpuModel#load}) and starts an engine on it. */
    public static CpuEngine load(Path model, Path tokenizerOrNull, EngineOptions options) {
        WorkerPool workers = new WorkerPool(options.threads(), options.computeNice());
        CpuModel loaded = null;
        try {
            loaded = CpuModel.load(model, tokenizerOrNull, options.contextLimit(), workers);
            return new CpuEngine(loaded, workers, options);
        } catch (RuntimeException e) {
            closeAfterFailure(loaded, workers);
            throw e;
        }
    }

    /** Loads with default options (see {@link EngineOptions#defaults}). */
    public static CpuEngine load(Path model, Path tokenizerOrNull, int threads) {
        return load(model, tokenizerOrNull, EngineOptions.defaults(threads));
    }

    /** An engine over an already-open GGUF with its own vocabulary; the engine closes {@code gguf}. */
    public static CpuEngine fromGguf(GgufFile gguf, String source, int threads) {
        return fromGguf(gguf, source, Tokenizers.fromGguf(gguf), threads);
    }

    /** An engine over an already-open GGUF with the given tokenizer; the engine closes {@code gguf}. */
    public static CpuEngine fromGguf(GgufFile gguf, String source, Tokenizer tokenizer, int threads) {
        var options = EngineOptions.defaults(threads);
        WorkerPool workers = new WorkerPool(threads);
        try {
            return new CpuEngine(CpuModel.fromGguf(gguf, source, tokenizer, options.contextLimit(), workers), workers, options);
        } catch (RuntimeException e) {
            workers.close();
            throw e;
        }
    }

    private static void closeAfterFailure(CpuModel loaded, WorkerPool workers) {
        workers.close();
        if (loaded == null) return;
        try {
            loaded.mapping().close();
        } catch (Exception suppressed) {
            // the load failure is what matters
        }
    }

    @Override
    public ModelInfo model() { return model.info(); }

    @Override
    public Tokenizer tokenizer() { return model.tokenizer(); }

    public LlamaConfig config() { return model.config(); }

    public ModelFingerprint fingerprint() { return model.fingerprint(); }

    public KvLayout kvLayout() { return memory.layout(); }

    /** The layout text this engine's block keys bind: the KV layout and the kernels' numerics ({@link BlockHasher}). */
    public String keyLayoutId() { return keyLayoutId; }

    /** The scheduler's last snapshot, with the tiers below the pool read live (their writers are other threads). */
    @Override
    public EngineStats stats() {
        EngineStats s = stats;
        return tiers == null ? s : new EngineStats(s.scheduler(), s.pool(), tiers.stats());
    }

    /** Where the host store is and what opening it found ({@code created}, {@code attached}, ...), or null without one. */
    public String hostStoreDescription() {
        return tiers == null ? null : tiers.hostStoreDescription();
    }

    @Override
    public Generation submit(GenerationRequest request, TokenSink sink) {
        String why = dead;
        if (why != null) throw new EngineUnavailableException(why + "; the replica must be restarted", null);
        if (closed) throw new IllegalStateException("engine is closed");
        int[] prompt = request.promptTokens();
        LlamaConfig config = model.config();
        int limit = request.completionLimit(config.contextLength(), config.vocab());
        int blocks = scheduler.blocksFor(prompt.length + limit);
        if (blocks > memory.blocks()) {
            throw new IllegalArgumentException("prompt plus max tokens (" + (prompt.length + limit) + " positions) need " + blocks
                    + " KV blocks but the pool holds " + memory.blocks() + " (kvfn.kv.pool-bytes); send a shorter request");
        }
        if (request.constraint() != null && request.constraint().vocabulary().size() > config.vocab()) {
            throw new IllegalArgumentException("the output constraint was built for a vocabulary of "
                    + request.constraint().vocabulary().size() + " tokens; the model has " + config.vocab());
        }
        return scheduler.submit(request, sink, limit, table -> new SequenceState(new PagedKv(memory, table),
                Sampler.random(request.sampling()), request.constraint() == null ? null : request.constraint().start()));
    }

    /**
     * What this engine keeps per sequence beside the scheduler's view: its attention view, random source and, for
     * constrained output, its place in the grammar (null: free text). A preempted sequence keeps all three: its
     * recompute samples nothing until it stands after its last token again.
     */
    private record SequenceState(PagedKv kv, SplittableRandom rng, ConstraintCursor constraint) {}

    // ---- the loop ------------------------------------------------------------------------------

    /**
     * The loop. It never ends on a failure it can survive: an iteration that throws (the forward pass,
     * a tier, a sink, a bug) fails the requests it was computing, is logged (the first of a run with its
     * stack trace) and the loop goes on. {@value #MAX_ERRORS} iterations in a row ending in an
     * {@link Error} (out of memory, an internal fault), or {@value #MAX_FAILURES} in a row ending in
     * anything, mean the engine cannot serve: it stops, fails what it holds, refuses new requests and
     * reports {@link #failure()} (liveness DOWN), so the platform replaces the replica.
     */
    private void serve() {
        ComputePriority.lowerCurrentThread(options.computeNice()); // the loop thread computes the first share of each step
        int failures = 0, errors = 0;
        try {
            while (!closed) {
                try {
                    if (!scheduler.awaitWork()) break;
                    StepPlan plan = scheduler.plan();
                    if (!plan.isEmpty()) step(plan);
                    publishStats();
                    scheduler.completeFinished();
                    failures = errors = 0;
                } catch (Throwable t) {
                    failures++;
                    errors = t instanceof Error ? errors + 1 : 0;
                    if (errors >= MAX_ERRORS || failures >= MAX_FAILURES) {
                        die(t, failures);
                        return;
                    }
                    if (failures == 1) LOG.log(System.Logger.Level.ERROR, "engine step failed; its requests fail, the engine goes on", t);
                    else LOG.log(System.Logger.Level.ERROR, "engine step failed again (" + failures + " in a row): " + t);
                    recover(t);
                }
            }
        } catch (Throwable t) { // recovering itself failed: nothing is left to trust
            die(t, failures);
            return;
        }
        scheduler.shutdown();
        publishStats();
    }

    static final int MAX_ERRORS = 3, MAX_FAILURES = 32;

    /** After a failed iteration: its step's requests fail (each with a {@link GenerationFailedException}), the rest go on. */
    private void recover(Throwable t) {
        scheduler.failStep(GenerationFailedException.of(t));
        publishStats();
        scheduler.completeFinished();
    }

    private void die(Throwable t, int failures) {
        String why = "the engine stopped after " + failures + " failed steps in a row, the last: " + t;
        dead = why;
        LOG.log(System.Logger.Level.ERROR, why + "; new requests are refused and liveness reports DOWN", t);
        try {
            scheduler.abort(new EngineUnavailableException(why + "; the replica must be restarted", t));
            publishStats();
        } catch (Throwable ignored) {
            // dead already; callers learn it from submit and liveness
        }
    }

    @Override
    public String failure() {
        String d = dead;
        if (d == null && !closed && !thread.isAlive()) return "the engine's loop thread has ended";
        return d;
    }

    /** One forward pass over the plan's rows, then a sampled token for each sequence that wanted logits. */
    private void step(StepPlan plan) {
        batch.clear();
        for (int i = 0; i < plan.size(); i++) {
            Sequence s = plan.sequence(i);
            PagedKv kv = s.<SequenceState>state().kv();
            int first = plan.firstPosition(i), rows = plan.rows(i);
            for (int r = 0; r < rows; r++) {
                batch.add(s.token(first + r), first + r, kv, plan.wantsLogits(i) && r == rows - 1);
            }
        }
        transformer.forward(batch); // a throw fails the step's sequences (see serve)
        scheduler.computed();
        int logit = 0;
        for (int i = 0; i < plan.size(); i++) {
            if (!plan.wantsLogits(i)) continue;
            Sequence s = plan.sequence(i);
            System.arraycopy(batch.logits(), batch.logitOffset(logit++), rowLogits, 0, rowLogits.length);
            SequenceState state = s.state();
            int token;
            try {
                if (state.constraint() != null) state.constraint().mask(rowLogits);
                token = sampler.sample(rowLogits, s.request().sampling(), state.rng());
                if (state.constraint() != null) state.constraint().advance(token);
            } catch (RuntimeException e) { // non-finite logits, a constraint nothing fits: fail their own request only
                scheduler.fail(s, e);
                continue;
            }
            scheduler.accept(s, token);
        }
    }

    private void publishStats() {
        stats = new EngineStats(scheduler.stats(), scheduler.poolStats(memory.blockBytes()), List.of());
    }

    @Override
    public boolean persist(Duration timeout) throws InterruptedException {
        return tiers == null || tiers.flush(timeout);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        scheduler.close();
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        workers.close();
        if (tiers != null) tiers.close(); // flushes what is queued, syncs the file
        memory.close();
        try {
            model.mapping().close();
        } catch (Exception e) {
            throw new IllegalStateException("closing the model mapping of " + model.info().source() + " failed", e);
        }
    }
}
