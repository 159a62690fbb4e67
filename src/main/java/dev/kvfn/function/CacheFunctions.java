package dev.kvfn.function;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.EngineStats;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.kv.tier.TierStats;
import dev.kvfn.engine.TokenSink;
import io.quarkus.funqy.Funq;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import jakarta.inject.Inject;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code warm} computes the KV of a prefix (a system prompt, a shared document) and waits until it
 * is in the persistent tier, so every replica and every restart starts with it; {@code cache}
 * reports each tier's contents and hit rates.
 */
public class CacheFunctions {

    /** {@code prompt} as for {@code generate} (BOS added); {@code cacheSalt} must match the requests that will reuse it. */
    public record WarmInput(String prompt, String cacheSalt) {}

    /**
     * @param promptTokens  tokens in the prefix
     * @param cachedTokens  of those, already cached before this call (absent unless {@link CacheHitReport} allows)
     * @param blockTokens   the block size: tokens after the last full block are not cacheable
     * @param cacheableTokens tokens now cached for reuse (whole blocks)
     * @param persisted     every block reached the host store (survives restarts)
     */
    public record WarmOutput(int promptTokens, @JsonInclude(JsonInclude.Include.NON_NULL) Integer cachedTokens, int cacheableTokens, int blockTokens, boolean persisted,
                             double millis, String model) {}

    /** One tier's contents and counters; {@code state} as in {@link TierStats#state()} ({@code ok} for the pool). */
    public record Tier(String tier, String state, long blocks, long capacityBlocks, long bytes, long hitTokens, double hitRate,
                       long writes, long evictions, long faults, long dropped) {}

    public record CacheOutput(String model, long promptTokens, long cachedTokens, double hitRate, int waiting, int running,
                              long preemptions, List<Tier> tiers) {}

    @Inject
    Engine engine;

    @Inject
    GenerationRequests requests;

    @Inject
    CacheHitReport hits;

    @Funq("warm")
    public Uni<WarmOutput> warm(WarmInput in) {
        if (in == null || in.prompt() == null || in.prompt().isEmpty()) {
            throw new BadRequestException("request body must be a JSON object with a non-empty \"prompt\"");
        }
        GenerationRequest request = requests.build(in.prompt(), new GenerationRequests.Knobs(1, 0f, null, null, null, null, null,
                in.cacheSalt()), GenerationRequests.Style.FUNQY);
        long t0 = System.nanoTime();
        return Uni.createFrom().completionStage(() -> engine.submit(request, TokenSink.NONE).result())
                .emitOn(Infrastructure.getDefaultWorkerPool())
                .map(r -> {
                    boolean persisted;
                    try {
                        persisted = engine.persist(Duration.ofSeconds(30));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        persisted = false;
                    }
                    int bt = Math.max(1, engine.stats().pool().blockTokens());
                    return new WarmOutput(r.promptTokens(), hits.shows(request) ? r.cachedTokens() : null, r.promptTokens() / bt * bt, bt, persisted,
                            (System.nanoTime() - t0) / 1e6, engine.model().name());
                });
    }

    /** No options yet; the body may be empty or {@code {}} (Funqy wants an input type to read an event's data). */
    public record CacheInput() {}

    @Funq("cache")
    public CacheOutput cache(CacheInput ignored) {
        EngineStats s = engine.stats();
        EngineStats.PoolStats pool = s.pool();
        long prompt = s.scheduler().promptTokens();
        List<Tier> tiers = new ArrayList<>();
        long held = pool.referenced() + pool.cached();
        tiers.add(new Tier("pool", "ok", held, pool.total(), held * pool.blockBytes(), pool.hitTokens(), rate(pool.hitTokens(), prompt),
                0, pool.evictions(), 0, 0));
        long cached = pool.hitTokens();
        for (TierStats t : s.tiers()) {
            tiers.add(new Tier(t.tier(), t.state(), t.blocks(), t.capacity(), t.blocks() < 0 ? -1 : t.blocks() * pool.blockBytes(),
                    t.hitTokens(), rate(t.hitTokens(), prompt), t.writes().blocks(), t.evictions(), t.faults(), t.dropped()));
            cached += t.hitTokens();
        }
        return new CacheOutput(engine.model().name(), prompt, cached, rate(cached, prompt), s.scheduler().waiting(),
                s.scheduler().running(), s.scheduler().preemptions(), tiers);
    }

    private static double rate(long part, long whole) {
        return whole == 0 ? 0 : (double) part / whole;
    }
}
