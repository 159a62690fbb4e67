package dev.kvfn.runtime;

import dev.kvfn.engine.Engine;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready once the engine holds a mapped model. The engine is created at start-up, so a replica that
 * answers this check can serve; one whose model failed to load never starts.
 */
@Readiness
@ApplicationScoped
public class EngineReadiness implements HealthCheck {

    @Inject
    Engine engine;

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("kvfn-engine").up()
                .withData("model", engine.model().name())
                .withData("contextLength", engine.model().contextLength())
                .build();
    }
}
