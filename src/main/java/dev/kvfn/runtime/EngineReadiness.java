package dev.kvfn.runtime;

import dev.kvfn.engine.Engine;
import dev.kvfn.kv.tier.TierStats;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready once the engine holds a mapped model. The engine is created at start-up, so a replica that
 * answers this check can serve; one whose model failed to load never starts. The KV tiers below the
 * pool are reported, never gating: a host store turned off or Redis down, slow or flushed costs cache
 * hits only, so a replica serves (and must stay in rotation) without them. Their state comes from
 * their own recent calls; the probe does no I/O (Quarkus's own Redis check is off:
 * {@code quarkus.redis.health.enabled=false}).
 */
@Readiness
@ApplicationScoped
public class EngineReadiness implements HealthCheck {

    @Inject
    Engine engine;

    @Override
    public HealthCheckResponse call() {
        // draining (SIGTERM): out of rotation at once, while running requests finish
        boolean draining = engine instanceof ServingEngine serving && serving.draining();
        var response = HealthCheckResponse.named("kvfn-engine").status(!draining)
                .withData("model", engine.model().name())
                .withData("contextLength", engine.model().contextLength());
        if (draining) response.withData("reason", "shutting down: running requests finish, new ones are refused");
        for (TierStats tier : engine.stats().tiers()) response.withData("tier." + tier.tier(), tier.state());
        return response.build();
    }
}
