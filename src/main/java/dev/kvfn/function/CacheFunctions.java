package dev.kvfn.function;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.kvfn.engine.Engine;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.TokenSink;
import io.quarkus.funqy.Funq;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import jakarta.inject.Inject;

import java.time.Duration;

/**
 * {@code warm} computes the KV of a prefix (a system prompt, a shared document) and waits until it
 * is in the persistent tier, so every replica and every restart starts with it. The cache report is
 * {@link CacheReport}, on the management interface only.
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
}
