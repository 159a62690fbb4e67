package dev.kvfn.runtime;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.tokenizer.Tokenizer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import dev.kvfn.engine.EngineUnavailableException;
import dev.kvfn.engine.QueueFullException;
import dev.kvfn.kv.tier.TierStats;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The engine as the rest of the app sees it, whichever API a request came from: admission (at most
 * {@code maxRequests} running or waiting, beyond that a {@link QueueFullException}), a deadline per request (then it
 * is cancelled), and metrics, named by Prometheus conventions under the prefix {@code kvfn_}.
 */
final class ServingEngine implements Engine {
    private static final ScheduledExecutorService DEADLINES = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("kvfn-deadlines").factory());

    private final Engine engine;
    private final int maxRequests;
    private final Duration deadline;
    private final Counter rejected;
    private final Counter requests, failures, cancelled, promptTokens, completionTokens;
    private final Timer ttft;
    private final Timer timePerOutputToken;
    private final DistributionSummary promptLength;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Object idle = new Object(); // notified when inFlight drops to 0
    private volatile boolean draining;

    ServingEngine(Engine engine, MeterRegistry registry, int maxRequests, Duration deadline) {
        this.engine = engine;
        this.maxRequests = maxRequests;
        this.deadline = deadline;
        String model = engine.model().name();
        rejected = Counter.builder("kvfn.requests.rejected").tag("model", model)
                .description("requests refused because the replica was full (HTTP 429)").register(registry);
        requests = Counter.builder("kvfn.requests").tag("model", model).description("generations submitted").register(registry);
        failures = Counter.builder("kvfn.request.failures").tag("model", model).description("generations that failed").register(registry);
        cancelled = Counter.builder("kvfn.requests.cancelled").tag("model", model)
                .description("generations stopped early because the client went away or asked").register(registry);
        promptTokens = Counter.builder("kvfn.prompt.tokens").tag("model", model).description("prompt tokens in").register(registry);
        completionTokens = Counter.builder("kvfn.completion.tokens").tag("model", model).description("completion tokens out").register(registry);
        ttft = Timer.builder("kvfn.time.to.first.token").tag("model", model).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(2))
                .description("from submit to the first completion token").register(registry);
        timePerOutputToken = Timer.builder("kvfn.time.per.output.token").tag("model", model).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(100_000)).maximumExpectedValue(Duration.ofSeconds(10))
                .description("decode time per completion token after the first").register(registry);
        promptLength = DistributionSummary.builder("kvfn.prompt.length").tag("model", model).baseUnit("tokens")
                .description("prompt tokens per request").register(registry);
        // Scheduler and pool, read from the engine's published snapshot at scrape time.
        var tags = java.util.List.of(io.micrometer.core.instrument.Tag.of("model", model));
        io.micrometer.core.instrument.Gauge.builder("kvfn.scheduler.waiting", engine, e -> e.stats().scheduler().waiting()).tags(tags)
                .description("requests queued for admission (queue depth), preempted ones included").register(registry);
        io.micrometer.core.instrument.Gauge.builder("kvfn.scheduler.running", engine, e -> e.stats().scheduler().running()).tags(tags)
                .description("sequences admitted and computing").register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.scheduler.preemptions", engine, e -> e.stats().scheduler().preemptions())
                .tags(tags).description("sequences sent back to the queue because the KV pool ran out").register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.scheduler.steps", engine, e -> e.stats().scheduler().steps())
                .tags(tags).description("batched forward steps").register(registry);
        for (String state : java.util.List.of("referenced", "cached", "free")) {
            io.micrometer.core.instrument.Gauge.builder("kvfn.kv.blocks", engine, e -> switch (state) {
                        case "referenced" -> e.stats().pool().referenced();
                        case "cached" -> e.stats().pool().cached();
                        default -> e.stats().pool().free();
                    }).tags(tags).tag("tier", "pool").tag("state", state)
                    .description("KV blocks by state: referenced by running sequences, cached (idle, reusable), free").register(registry);
        }
        io.micrometer.core.instrument.Gauge.builder("kvfn.kv.block.bytes", engine, e -> e.stats().pool().blockBytes()).tags(tags)
                .tag("tier", "pool").description("bytes per KV block").register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.kv.evictions", engine, e -> e.stats().pool().evictions())
                .tags(tags).tag("tier", "pool").description("cached blocks whose prefix was dropped to make room").register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.cached.tokens", engine, e -> e.stats().pool().hitTokens())
                .tags(tags).tag("tier", "pool").description("prompt tokens served from the KV cache instead of computed, by tier")
                .register(registry);
        for (var tier : engine.stats().tiers()) tierMetrics(registry, tags, tier.tier());
        registry.gauge("kvfn.requests.in.flight", java.util.List.of(io.micrometer.core.instrument.Tag.of("model", model)),
                inFlight, AtomicInteger::get);
    }

    /** The meters of one tier below the pool (host store, Redis), read from the engine's stats at scrape time. */
    private void tierMetrics(MeterRegistry registry, java.util.List<io.micrometer.core.instrument.Tag> tags, String name) {
        java.util.function.Function<Engine, TierStats> t = e -> {
            var s = e.stats().tier(name);
            return s == null ? TierStats.empty(name) : s;
        };
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.cached.tokens", engine, e -> t.apply(e).hitTokens())
                .tags(tags).tag("tier", name).description("prompt tokens served from the KV cache instead of computed, by tier")
                .register(registry);
        io.micrometer.core.instrument.Gauge.builder("kvfn.kv.blocks", engine, e -> t.apply(e).blocks()).tags(tags)
                .tag("tier", name).tag("state", "stored").description("KV blocks by state").register(registry);
        io.micrometer.core.instrument.Gauge.builder("kvfn.kv.blocks.capacity", engine, e -> t.apply(e).capacity()).tags(tags)
                .tag("tier", name).description("KV blocks a tier can hold (-1: bounded by the server)").register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.kv.spill.bytes", engine, e -> t.apply(e).writes().bytes())
                .tags(tags).tag("tier", name).description("KV bytes written to the tier").register(registry);
        io.micrometer.core.instrument.FunctionTimer.builder("kvfn.kv.spill", engine, e -> t.apply(e).writes().blocks(),
                        e -> t.apply(e).writes().nanos(), TimeUnit.NANOSECONDS)
                .tags(tags).tag("tier", name).description("blocks written to the tier and the time it took (off the compute loop)")
                .register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.kv.restore.bytes", engine, e -> t.apply(e).restores().bytes())
                .tags(tags).tag("tier", name).description("KV bytes restored from the tier").register(registry);
        io.micrometer.core.instrument.FunctionTimer.builder("kvfn.kv.restore", engine, e -> t.apply(e).restores().blocks(),
                        e -> t.apply(e).restores().nanos(), TimeUnit.NANOSECONDS)
                .tags(tags).tag("tier", name).description("blocks restored from the tier and the time it took").register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.kv.faults", engine, e -> t.apply(e).faults())
                .tags(tags).tag("tier", name).description("damaged blocks dropped, errors and timeouts (each costs a hit, never a token)")
                .register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.kv.spill.dropped", engine, e -> t.apply(e).dropped())
                .tags(tags).tag("tier", name).description("blocks not written because the queue was full or the write failed")
                .register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("kvfn.kv.evictions", engine, e -> t.apply(e).evictions())
                .tags(tags).tag("tier", name).description("blocks a tier dropped to make room").register(registry);
    }

    @Override public ModelInfo model() { return engine.model(); }
    @Override public Tokenizer tokenizer() { return engine.tokenizer(); }
    @Override public void close() { engine.close(); }
    @Override public String failure() { return engine.failure(); }
    @Override public dev.kvfn.engine.EngineStats stats() { return engine.stats(); }
    @Override public boolean persist(Duration timeout) throws InterruptedException { return engine.persist(timeout); }

    /**
     * The replica is shutting down (SIGTERM): new requests are refused with an {@link EngineUnavailableException}
     * (HTTP 503, so a load balancer retries elsewhere) and readiness reports DOWN; running ones finish.
     */
    void drain() {
        draining = true;
    }

    boolean draining() {
        return draining;
    }

    /** Waits until no request is running or waiting (after {@link #drain()}); false at the deadline. */
    boolean awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (idle) {
            while (inFlight.get() > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return false;
                TimeUnit.NANOSECONDS.timedWait(idle, left);
            }
        }
        return true;
    }

    private void left() {
        if (inFlight.decrementAndGet() == 0) {
            synchronized (idle) {
                idle.notifyAll();
            }
        }
    }

    /**
     * Whether a new request would be refused now because the replica is full (counted as a refusal): checked before its body is read
     * (a burst of prompts must not be parsed and tokenized only to be refused); {@link #submit} checks again.
     */
    boolean refusesNewRequest() {
        if (inFlight.get() < maxRequests) return false;
        rejected.increment();
        return true;
    }

    /** The refusal of a request that finds the replica full: its message and Retry-After. */
    QueueFullException fullRefusal() {
        return new QueueFullException("this replica already has " + maxRequests
                + " requests running or waiting (kvfn.limits.max-requests); retry shortly", 1);
    }

    @Override
    public Generation submit(GenerationRequest request, TokenSink sink) {
        if (draining) {
            throw new EngineUnavailableException("this replica is shutting down; send the request to another replica", null);
        }
        if (inFlight.incrementAndGet() > maxRequests) {
            left();
            rejected.increment();
            throw fullRefusal();
        }
        Generation g;
        try {
            g = engine.submit(request, sink);
        } catch (RuntimeException e) {
            left();
            throw e;
        }
        requests.increment();
        ScheduledFuture<?> timeout = DEADLINES.schedule(g::cancel, deadline.toNanos(), TimeUnit.NANOSECONDS);
        // The caller sees the result only once it is counted: a client that reads the metrics after its answer finds
        // its request in them (callbacks on one future run in no set order; GenerateFunctionTest saw 0 of 5 tokens)
        CompletableFuture<GenerationResult> counted = g.result().whenComplete((r, failure) -> {
            timeout.cancel(false);
            left();
            if (failure != null) {
                failures.increment();
                return;
            }
            record(r);
        });
        return new Generation() {
            @Override public CompletableFuture<GenerationResult> result() { return counted; }
            @Override public void cancel() { g.cancel(); }
        };
    }

    private void record(GenerationResult r) {
        if (r.finishReason() == dev.kvfn.engine.FinishReason.CANCELLED) cancelled.increment();
        promptTokens.increment(r.promptTokens());
        promptLength.record(r.promptTokens());
        completionTokens.increment(r.completionTokens());
        if (r.completionTokens() > 0) ttft.record(r.ttftNanos(), TimeUnit.NANOSECONDS);
        if (r.completionTokens() > 1) timePerOutputToken.record(r.decodeNanos() / (r.completionTokens() - 1), TimeUnit.NANOSECONDS);
    }
}
