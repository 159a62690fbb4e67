package dev.kvfn.function;

import dev.kvfn.config.KvConfig;
import dev.kvfn.engine.GenerationRequest;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/**
 * Whether a request may see its prefix-cache hits ({@code kvfn.kv.report-cached-tokens}). Unsalted requests share
 * blocks with every other unsalted request: a hit count (or the prefill time it saves) tells a caller that someone
 * sent the same first blocks before, which prompt-leak attacks probe token by token. A request with its own salt
 * only ever hits its own blocks, so its hits tell it nothing new.
 */
@ApplicationScoped
public class CacheHitReport {
    @Inject
    KvConfig kv;

    public boolean shows(GenerationRequest request) {
        return switch (kv.reportCachedTokens()) {
            case ALWAYS -> true;
            case NEVER -> false;
            case SALTED -> request.cacheSalt() != null;
        };
    }
}
