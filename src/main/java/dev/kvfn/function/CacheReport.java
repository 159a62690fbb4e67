package dev.kvfn.function;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.EngineStats;
import dev.kvfn.kv.tier.TierStats;
import io.quarkus.runtime.annotations.RegisterForReflection;
import io.quarkus.vertx.http.ManagementInterface;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.List;

/**
 * Each KV tier's contents and hit rates, as {@code GET /q/cache} on the management interface
 * ({@code quarkus.management.port}, 9000) — never on the public port: hit rates and counters over all tenants
 * are operators' numbers, and a caller watching them learns when someone else's prompt hit the cache. The public
 * {@code /cache} and {@code dev.kvfn.cache} event type answer where it moved ({@link HttpErrors}).
 */
@ApplicationScoped
public class CacheReport {
    /** Where the report is served, on the management interface. */
    public static final String PATH = "/q/cache";

    /** The answer to the public {@code /cache} and {@code dev.kvfn.cache} events, which served it before. */
    public static final String MOVED = "the cache report is not served on this port: it moved to the management interface, GET "
            + PATH + " on the management port (quarkus.management.port, 9000 by default)";

    // Tier and CacheOutput reach Jackson through this route's own ObjectMapper call, which no REST or Funqy signature
    // declares (Quarkus registers only those): registered for the native image, where Jackson reads records reflectively.

    /** One tier's contents and counters; {@code state} as in {@link TierStats#state()} ({@code ok} for the pool). */
    @RegisterForReflection
    public record Tier(String tier, String state, long blocks, long capacityBlocks, long bytes, long hitTokens, double hitRate,
                       long writes, long evictions, long faults, long dropped) {}

    @RegisterForReflection
    public record CacheOutput(String model, long promptTokens, long cachedTokens, double hitRate, int waiting, int running,
                              long preemptions, List<Tier> tiers) {}

    @Inject
    Engine engine;

    @Inject
    ObjectMapper json;

    void install(@Observes ManagementInterface management) {
        management.router().route(PATH).handler(ctx -> {
            String body;
            try {
                body = json.writeValueAsString(report());
            } catch (JsonProcessingException e) {
                ctx.fail(e);
                return;
            }
            ctx.response().putHeader("Content-Type", "application/json").end(body);
        });
    }

    public CacheOutput report() {
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
